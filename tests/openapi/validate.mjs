// tests/openapi/validate.mjs DOC ANSWERS: validates the OpenAPI document DOC
// (swagger-parser), then checks each recorded answer (a JSON object per line:
// {"path": template, "method", "status", "body"}) against the schema DOC gives that
// path, method and status (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses). Every
// operation of DOC must have been answered at least once. Exit 1 on any failure.
import fs from "node:fs";
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [docPath, answersPath] = process.argv.slice(2);
let failures = 0;
const fail = (msg) => { console.log("FAIL " + msg); failures++; };

const raw = JSON.parse(fs.readFileSync(docPath, "utf8"));
await SwaggerParser.validate(structuredClone(raw));
console.log("ok   the document is valid OpenAPI " + raw.openapi);
const doc = await SwaggerParser.dereference(structuredClone(raw));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

const seen = new Set();
const lines = fs.readFileSync(answersPath, "utf8").split("\n").filter((l) => l.trim());
for (const line of lines) {
  const a = JSON.parse(line);
  const op = doc.paths[a.path]?.[a.method.toLowerCase()];
  const what = `${a.method} ${a.path} ${a.status}`;
  if (!op) { fail(`${what}: not in the document`); continue; }
  seen.add(`${a.method.toUpperCase()} ${a.path}`);
  const resp = op.responses[String(a.status)];
  if (!resp) { fail(`${what}: status not documented`); continue; }
  const schema = resp.content?.["application/json"]?.schema;
  if (!schema) {
    if (a.body !== null && a.body !== "") fail(`${what}: a body where the document has none`);
    else console.log(`ok   ${what} (no body)`);
    continue;
  }
  const validate = ajv.compile(schema);
  if (validate(a.body)) console.log(`ok   ${what}`);
  else fail(`${what}: ${ajv.errorsText(validate.errors)}: ${JSON.stringify(a.body).slice(0, 300)}`);
}
for (const [p, item] of Object.entries(doc.paths))
  for (const m of ["get", "post", "put", "patch", "delete"])
    if (item[m] && !seen.has(`${m.toUpperCase()} ${p}`)) fail(`${m.toUpperCase()} ${p}: never answered in the test`);
console.log(`${lines.length} answers checked, ${failures} failure(s)`);
process.exit(failures ? 1 : 0);
