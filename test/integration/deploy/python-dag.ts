import { execFileSync, spawnSync } from "node:child_process";

/**
 * Reads a generated DAG file with Python's own parser (`ast`), since Airflow cannot be installed
 * here: the imports, module constants, every call with its keyword arguments, the tasks assigned
 * in the `with DAG(...)` block and the `>>` dependencies between them.
 */
const INSPECT = String.raw`
import ast, json, sys

tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())

def value(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        if isinstance(node, ast.Name):
            return {"name": node.id}
        return {"expr": ast.unparse(node)}

imports = []
constants = {}
functions = []
# Imports guarded by try/except at the top level count as the module's imports too.
top = [n for node in tree.body for n in ([node] + (node.body if isinstance(node, ast.Try) else []))]
for node in top:
    if isinstance(node, ast.ImportFrom):
        imports += [node.module + "." + alias.name for alias in node.names]
    elif isinstance(node, ast.Import):
        imports += [alias.name for alias in node.names]
    elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        constants[node.targets[0].id] = value(node.value)
    elif isinstance(node, ast.FunctionDef):
        functions.append(node.name)

calls = []
for node in ast.walk(tree):
    if isinstance(node, ast.Call):
        calls.append({
            "func": ast.unparse(node.func),
            "args": [value(a) for a in node.args],
            "kwargs": {k.arg: value(k.value) for k in node.keywords if k.arg},
        })

tasks = {}
edges = []
withs = [n for n in tree.body if isinstance(n, ast.With)]
def operands(node):
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
        return operands(node.left) + [node.right]
    return [node]
def names(node):
    if isinstance(node, ast.List):
        return [e.id for e in node.elts]
    return [node.id]
for block in withs:
    for stmt in block.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            kwargs = {k.arg: value(k.value) for k in stmt.value.keywords if k.arg}
            tasks[stmt.targets[0].id] = {"operator": ast.unparse(stmt.value.func), "kwargs": kwargs}
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.BinOp):
            chain = [names(o) for o in operands(stmt.value)]
            for upstream, downstream in zip(chain, chain[1:]):
                for u in upstream:
                    for d in downstream:
                        edges.append([u, d])

print(json.dumps({"imports": imports, "constants": constants, "functions": functions,
                  "calls": calls, "tasks": tasks, "edges": edges, "withCount": len(withs)}))
`;

export interface PythonCall {
  func: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

export interface DagStructure {
  imports: string[];
  constants: Record<string, unknown>;
  functions: string[];
  calls: PythonCall[];
  tasks: Record<string, { operator: string; kwargs: Record<string, unknown> }>;
  edges: [string, string][];
  withCount: number;
}

export function inspectDag(file: string): DagStructure {
  return JSON.parse(execFileSync("python3", ["-c", INSPECT, file], { encoding: "utf8" })) as DagStructure;
}

/** `python3 -m py_compile <file>`: exit status and the compiler's message. */
export function pyCompile(file: string): { status: number | null; stderr: string } {
  const result = spawnSync("python3", ["-m", "py_compile", file], { encoding: "utf8" });
  return { status: result.status, stderr: result.stderr };
}
