// `npm run schema`: writes the project file's JSON Schema from the built sources (see
// src/project/project-schema.ts). Run after changing a setting or the settings inventory.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PROJECT_SCHEMA_FILE, projectSchemaText } from "../dist/project/project-schema.js";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const file = path.join(root, PROJECT_SCHEMA_FILE);
fs.mkdirSync(path.dirname(file), { recursive: true });
fs.writeFileSync(file, projectSchemaText());
console.log(`wrote ${PROJECT_SCHEMA_FILE}`);
