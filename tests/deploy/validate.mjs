// tests/deploy/validate.mjs: offline checks of berth's Kubernetes manifests.
//
//   node validate.mjs [--env-names FILE] [--kustomize DIR [--compare FILE]] [PATH...]
//
// PATH is a folder (every *.yaml in it, not its subfolders) or a file. --kustomize DIR
// renders the kustomization in DIR (below: the part of kustomize these manifests use)
// and adds its objects; --compare FILE then checks that rendering against FILE, the
// output of a real `kubectl kustomize DIR` (or `kustomize build DIR`), object by
// object. A kustomization among the PATHs whose resource is a folder (deploy/k8s lists
// base) needs that folder rendered: --kustomize on it or on the kustomization's own.
// Each object is built with the kubernetes-models class for its apiVersion/kind and
// validated against the Kubernetes API schema; then berth's own rules are checked:
// probe paths and ports, the BERTH_* variable names berthd reads (--env-names: one
// name per line, from the binary), the downward API fields, the Secret types and keys
// the kubelet reads, the references between objects (ConfigMap, Secrets, claims,
// Service selector, imagePullSecrets), the Deployment's shape (SQLite: one replica,
// Recreate; PostgreSQL through BERTH_DB: replicas with rolling updates, a disruption
// budget, a ReadWriteMany claim, one certificate, the database URI and password from
// Secrets), grace period, security context, and no password in plain text.
// Exit status 0 when everything holds, 1 with one line per problem otherwise, 2 on
// usage errors.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, basename, dirname, resolve, relative, isAbsolute } from 'node:path';
import { parseAllDocuments } from 'yaml';

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);
const usage = () => {
        console.error('usage: node validate.mjs [--env-names FILE] [--kustomize DIR [--compare FILE]] [PATH...]');
        process.exit(2);
};

// ---- arguments -----------------------------------------------------------------------
let envNames = null;
let kustomizeDir = null;
let compareFile = null;
const paths = [];
{
        const argv = process.argv.slice(2);
        for (let i = 0; i < argv.length; i++) {
                if (argv[i] === '--env-names' && i + 1 < argv.length) {
                        envNames = new Set(readFileSync(argv[++i], 'utf8').split(/\s+/).filter(Boolean));
                } else if (argv[i] === '--kustomize' && i + 1 < argv.length && !kustomizeDir) {
                        kustomizeDir = argv[++i];
                } else if (argv[i] === '--compare' && i + 1 < argv.length) {
                        compareFile = argv[++i];
                } else if (argv[i].startsWith('-')) {
                        usage();
                } else {
                        paths.push(argv[i]);
                }
        }
        if ((paths.length === 0 && !kustomizeDir) || (compareFile && !kustomizeDir)) usage();
}

// Kubernetes reads manifests as YAML 1.1 (defaultMode: 0440 is octal, 288), and so
// does kustomize: parse them the same way.
const parseYaml = (text) => parseAllDocuments(text, { version: '1.1', uniqueKeys: true });

// ---- load every document ------------------------------------------------------------
// every file read, by its absolute path, once
const files = [];
const addFile = (f) => { f = resolve(f); if (!files.includes(f)) files.push(f); };
for (const p of paths) {
        if (statSync(p).isDirectory()) {
                for (const f of readdirSync(p).sort())
                        if (/\.ya?ml$/.test(f)) addFile(join(p, f));
        } else {
                addFile(p);
        }
}
const objects = [];      // { file, obj }
const kustomizations = [];
for (const file of files) {
        for (const doc of parseYaml(readFileSync(file, 'utf8'))) {
                if (doc.errors.length) {
                        problem(file, `YAML: ${doc.errors[0].message}`);
                        continue;
                }
                const obj = doc.toJS();
                if (obj === null || obj === undefined) continue;
                if (obj.kind === 'Kustomization') kustomizations.push({ file, obj });
                else objects.push({ file, obj });
        }
}

// ---- kustomize, the part of it these manifests use ------------------------------------
// Not a reimplementation of kustomize: the fields berth's kustomizations use, each
// done as kustomize does it, and an error for anything else, so that nothing is
// silently left out. Where kubectl (or kustomize) is installed, --compare holds this
// rendering to theirs.
//   resources  files (under the kustomization's folder, as kustomize's default load
//              restrictor demands) and folders with a kustomization of their own
//              (rendered first; a folder containing the kustomization that loads it
//              is a cycle, refused as kustomize does)
//   patches    strategic-merge patches by path or inline, matched to one object by
//              apiVersion, kind, namespace and name; `$patch: delete` on an object or
//              a list element, `$patch: replace`, null to remove a key; lists are
//              merged by the key the Kubernetes API gives them (MERGE_KEYS) or
//              replaced (REPLACE_LISTS); any other list is an error
//   labels     pairs added to every object's metadata.labels (not selectors, not
//              templates: includeSelectors and includeTemplates are not implemented)
//   images     newName, newTag, digest for containers whose image has that name
class KustomizeError extends Error {}
// files are named from the folder holding the rendered kustomization (ha/..., base/...)
const displayRoot = kustomizeDir ? dirname(resolve(kustomizeDir)) : '.';
const KUSTOMIZE_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'patches', 'labels', 'images']);
const MERGE_KEYS = {
        containers: 'name', initContainers: 'name', ephemeralContainers: 'name', env: 'name',
        volumes: 'name', volumeMounts: 'mountPath', volumeDevices: 'devicePath', imagePullSecrets: 'name',
};
const REPLACE_LISTS = new Set(['accessModes', 'command', 'args', 'items', 'envFrom', 'tolerations', 'add', 'drop',
        'preferredDuringSchedulingIgnoredDuringExecution', 'requiredDuringSchedulingIgnoredDuringExecution']);
const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => structuredClone(v);
const objId = (obj) => `${obj.apiVersion}/${obj.kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name}`;

// a patch's own value with its directives and nulls gone (what a new key receives)
function stripPatch(v, path) {
        if (Array.isArray(v)) return v.map((x) => stripPatch(x, path));
        if (!isMap(v)) return v;
        const out = {};
        for (const [k, x] of Object.entries(v)) {
                if (k === '$patch') {
                        if (x !== 'replace' && x !== 'merge') throw new KustomizeError(`${path}: $patch: ${x} where nothing is to be deleted`);
                        continue;
                }
                if (k.startsWith('$')) throw new KustomizeError(`${path}: the directive ${k} is not implemented`);
                if (x !== null) out[k] = stripPatch(x, `${path}.${k}`);
        }
        return out;
}

function mergeMap(base, patch, path) {
        if (patch.$patch === 'replace') return stripPatch(patch, path);
        if (patch.$patch !== undefined && patch.$patch !== 'merge')
                throw new KustomizeError(`${path}: $patch: ${patch.$patch} is not implemented here`);
        const out = isMap(base) ? clone(base) : {};
        for (const [k, v] of Object.entries(patch)) {
                if (k === '$patch') continue;
                if (k.startsWith('$')) throw new KustomizeError(`${path}: the directive ${k} is not implemented`);
                const p = `${path}.${k}`;
                if (v === null) delete out[k];
                else if (Array.isArray(v)) out[k] = mergeList(out[k], v, k, p);
                else if (isMap(v)) out[k] = isMap(out[k]) ? mergeMap(out[k], v, p) : stripPatch(v, p);
                else out[k] = v;
        }
        return out;
}

// merged elements in the patch's order, then the base's other elements in theirs
// (what kustomize does)
function mergeList(base, patch, field, path) {
        let key = MERGE_KEYS[field];
        if (field === 'ports') key = /\.(containers|initContainers|ephemeralContainers)\./.test(path) ? 'containerPort' : 'port';
        if (!key) {
                if (REPLACE_LISTS.has(field)) return stripPatch(patch, path);
                throw new KustomizeError(`${path}: no merge rule for the list ${field} (add its patchMergeKey, or list it as replaced)`);
        }
        const rest = Array.isArray(base) ? clone(base) : [];
        const out = [];
        for (const item of patch) {
                if (!isMap(item) || item[key] === undefined) throw new KustomizeError(`${path}: an element without its merge key ${key}`);
                const i = rest.findIndex((b) => isMap(b) && b[key] === item[key]);
                const found = i >= 0 ? rest.splice(i, 1)[0] : undefined;
                if (item.$patch === 'delete') continue;
                out.push(found === undefined ? stripPatch(item, `${path}[${item[key]}]`) : mergeMap(found, item, `${path}[${item[key]}]`));
        }
        return out.concat(rest);
}

function loadFile(file, into) {
        for (const doc of parseYaml(readFileSync(file, 'utf8'))) {
                if (doc.errors.length) throw new KustomizeError(`${file}: YAML: ${doc.errors[0].message}`);
                const obj = doc.toJS();
                if (obj !== null && obj !== undefined) into.push(obj);
        }
}

// renders DIR: [{ obj, src }], src the file each object came from
function kustomizeBuild(dir, loading = [], read = new Set()) {
        dir = resolve(dir);
        const inside = (root, p) => { const r = relative(root, p); return r === '' || (!r.startsWith('..') && !isAbsolute(r)); };
        for (const l of loading)
                if (inside(dir, l)) throw new KustomizeError(`cycle: ${dir} contains ${l}, which loads it`);
        const kfile = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find((f) => existsSync(f));
        if (!kfile) throw new KustomizeError(`${dir}: no kustomization.yaml`);
        read.add(kfile);
        const docs = [];
        loadFile(kfile, docs);
        const k = docs[0] ?? {};
        if (docs.length !== 1 || k.kind !== 'Kustomization') throw new KustomizeError(`${kfile}: not one Kustomization`);
        for (const f of Object.keys(k))
                if (!KUSTOMIZE_FIELDS.has(f)) throw new KustomizeError(`${kfile}: ${f}: not implemented by this renderer`);
        const where = (s) => `${relative(displayRoot, kfile)}: ${s}`;

        let out = [];
        const add = (obj, src) => {
                if (!isMap(obj) || !obj.kind || !obj.metadata?.name) throw new KustomizeError(where(`${src}: an object without kind or metadata.name`));
                if (out.some((o) => objId(o.obj) === objId(obj))) throw new KustomizeError(where(`${objId(obj)} is listed twice`));
                out.push({ obj, src });
        };
        for (const r of k.resources ?? []) {
                const p = resolve(dir, r);
                if (!existsSync(p)) throw new KustomizeError(where(`resource ${r} does not exist`));
                if (statSync(p).isDirectory()) {
                        for (const o of kustomizeBuild(p, [...loading, dir], read)) add(o.obj, o.src);
                } else {
                        if (!inside(dir, p)) throw new KustomizeError(where(`resource ${r} is not in or below ${dir}`));
                        read.add(p);
                        const objs = [];
                        loadFile(p, objs);
                        for (const obj of objs) add(obj, p);
                }
        }
        for (const pt of k.patches ?? []) {
                for (const f of Object.keys(pt ?? {}))
                        if (f !== 'path' && f !== 'patch') throw new KustomizeError(where(`patches: ${f}: not implemented by this renderer`));
                const patches = [];
                if (pt.path !== undefined) {
                        const p = resolve(dir, pt.path);
                        if (!existsSync(p)) throw new KustomizeError(where(`patch ${pt.path} does not exist`));
                        if (!inside(dir, p)) throw new KustomizeError(where(`patch ${pt.path} is not in or below ${dir}`));
                        read.add(p);
                        loadFile(p, patches);
                } else if (typeof pt.patch === 'string') {
                        for (const doc of parseYaml(pt.patch)) patches.push(doc.toJS());
                } else {
                        throw new KustomizeError(where('a patch needs path or patch'));
                }
                for (const patch of patches) {
                        if (!isMap(patch)) throw new KustomizeError(where(`patch ${pt.path ?? ''}: only strategic-merge patches (a map) are implemented`));
                        const id = objId(patch);
                        const i = out.findIndex((o) => objId(o.obj) === id);
                        if (i < 0) throw new KustomizeError(where(`patch ${pt.path ?? ''}: no object ${id} to patch`));
                        if (patch.$patch === 'delete') out.splice(i, 1);
                        else out[i] = { obj: mergeMap(out[i].obj, patch, `${pt.path ?? 'patch'}:${patch.kind}`), src: out[i].src };
                }
        }
        for (const l of k.labels ?? []) {
                for (const f of Object.keys(l ?? {}))
                        if (f !== 'pairs') throw new KustomizeError(where(`labels: ${f}: not implemented by this renderer`));
                for (const o of out) o.obj.metadata.labels = { ...(o.obj.metadata.labels ?? {}), ...l.pairs };
        }
        for (const im of k.images ?? []) {
                for (const f of Object.keys(im ?? {}))
                        if (!['name', 'newName', 'newTag', 'digest'].includes(f)) throw new KustomizeError(where(`images: ${f}: not implemented by this renderer`));
                for (const o of out) {
                        const spec = o.obj.kind === 'Pod' ? o.obj.spec : o.obj.spec?.template?.spec;
                        for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
                                const m = /^(.*?)(?::([^:/@]+))?(?:@(.+))?$/.exec(c.image ?? '');
                                if (!m || m[1] !== im.name) continue;
                                const name = im.newName ?? m[1];
                                if (im.digest) c.image = `${name}@${im.digest}`;
                                else if (im.newTag) c.image = `${name}:${im.newTag}`;
                                else c.image = `${name}${m[2] ? `:${m[2]}` : ''}${m[3] ? `@${m[3]}` : ''}`;
                        }
                }
        }
        return out;
}

if (kustomizeDir) {
        const label = `${basename(resolve(kustomizeDir))} (kustomize build)`;
        const read = new Set();
        try {
                const rendered = kustomizeBuild(kustomizeDir, [], read);
                for (const f of read) addFile(f);
                for (const o of rendered) objects.push({ file: label, obj: o.obj });
                if (compareFile) compareRendering(rendered, compareFile);
        } catch (e) {
                if (!(e instanceof KustomizeError)) throw e;
                problem(label, e.message);
        }
}

// The rendering against a real kustomize's: the same objects, equal field by field
// (maps in any order, lists in the same order).
function compareRendering(rendered, file) {
        const theirs = [];
        loadFile(file, theirs);
        const canon = (v) => Array.isArray(v) ? v.map(canon)
                : isMap(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
        const firstDiff = (a, b, path) => {
                if (JSON.stringify(canon(a)) === JSON.stringify(canon(b))) return null;
                if (isMap(a) && isMap(b)) {
                        for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
                                const d = firstDiff(a[k], b[k], `${path}.${k}`);
                                if (d) return d;
                        }
                }
                if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
                        for (let i = 0; i < a.length; i++) {
                                const d = firstDiff(a[i], b[i], `${path}[${i}]`);
                                if (d) return d;
                        }
                }
                return `${path}: ${JSON.stringify(a)} here, ${JSON.stringify(b)} in ${basename(file)}`;
        };
        const w = `${basename(file)} (compare)`;
        const ours = new Map(rendered.map((o) => [objId(o.obj), o.obj]));
        const other = new Map(theirs.map((o) => [objId(o), o]));
        for (const id of ours.keys()) if (!other.has(id)) problem(w, `${id} rendered here, not by kustomize`);
        for (const id of other.keys()) if (!ours.has(id)) problem(w, `${id} rendered by kustomize, not here`);
        for (const [id, obj] of ours) {
                if (!other.has(id)) continue;
                const d = firstDiff(obj, other.get(id), '');
                if (d) problem(w, `${id} differs: ${d}`);
        }
        if (!problems.some((p) => p.startsWith(w))) console.log(`the rendering of ${kustomizeDir} equals ${basename(file)} (${ours.size} objects)`);
}

// ---- 1. the Kubernetes API schema ---------------------------------------------------
const where = (o) => `${basename(o.file)} ${o.obj.kind ?? '?'}/${o.obj.metadata?.name ?? '?'}`;
for (const o of objects) {
        const { apiVersion, kind } = o.obj;
        if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
                problem(where(o), 'apiVersion and kind are required');
                continue;
        }
        let mod;
        try {
                // "v1" -> kubernetes-models/v1, "apps/v1" -> kubernetes-models/apps/v1
                mod = await import(`kubernetes-models/${apiVersion}`);
        } catch {
                problem(where(o), `unknown apiVersion ${apiVersion}`);
                continue;
        }
        const Model = mod[kind];
        if (typeof Model !== 'function') {
                problem(where(o), `unknown kind ${kind} in ${apiVersion}`);
                continue;
        }
        try {
                new Model(o.obj).validate();
        } catch (e) {
                problem(where(o), `schema: ${String(e.message ?? e).split('\n')[0]}`);
        }
}

// ---- 2. berth's own rules -------------------------------------------------------------
const byKind = (k) => objects.filter((o) => o.obj.kind === k);
const ns = (o) => o.obj.metadata?.namespace ?? 'default';
const find = (kind, namespace, name) =>
        objects.find((o) => o.obj.kind === kind && ns(o) === namespace && o.obj.metadata?.name === name);

const podSpecs = [];   // { o, spec, labels }
for (const o of objects) {
        const t = o.obj.spec?.template;
        if (['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].includes(o.obj.kind) && t?.spec)
                podSpecs.push({ o, spec: t.spec, labels: t.metadata?.labels ?? {} });
        else if (o.obj.kind === 'Pod' && o.obj.spec)
                podSpecs.push({ o, spec: o.obj.spec, labels: o.obj.metadata?.labels ?? {} });
}

// Every container names its imagePullPolicy (the default depends on the tag), and
// every reference to a ConfigMap, Secret or pull Secret resolves in the same namespace.
for (const { o, spec } of podSpecs) {
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
                if (!c.imagePullPolicy) problem(where(o), `container ${c.name}: no explicit imagePullPolicy`);
                if (!c.resources?.requests || !c.resources?.limits)
                        problem(where(o), `container ${c.name}: resources need requests and limits`);
                for (const ef of c.envFrom ?? []) {
                        const n = ef.configMapRef?.name;
                        if (n && !ef.configMapRef.optional && !find('ConfigMap', ns(o), n))
                                problem(where(o), `envFrom: no ConfigMap ${n} in namespace ${ns(o)}`);
                }
                for (const e of c.env ?? []) {
                        const r = e.valueFrom?.secretKeyRef;
                        if (!r || r.optional) continue;
                        const s = find('Secret', ns(o), r.name);
                        if (!s) problem(where(o), `env ${e.name}: no Secret ${r.name} in namespace ${ns(o)}`);
                        else if (!(r.key in (s.obj.data ?? {})) && !(r.key in (s.obj.stringData ?? {})))
                                problem(where(o), `env ${e.name}: Secret ${r.name} has no key ${r.key}`);
                }
        }
        for (const ps of spec.imagePullSecrets ?? []) {
                const s = find('Secret', ns(o), ps.name);
                if (!s) {
                        problem(where(o), `imagePullSecrets: no Secret ${ps.name} in namespace ${ns(o)}`);
                        continue;
                }
                checkPullSecret(s, spec, o);
        }
}

// Secret and ConfigMap volumes that are not optional must resolve (a pod waits
// forever for a missing one), with every key their items name; every claim is
// mounted by some pod; every disruption budget selects some pods.
for (const { o, spec } of podSpecs) {
        for (const v of spec.volumes ?? []) {
                const ref = v.secret ? ['Secret', v.secret.secretName, v.secret] : v.configMap ? ['ConfigMap', v.configMap.name, v.configMap] : null;
                if (!ref || ref[2].optional) continue;
                const t = find(ref[0], ns(o), ref[1]);
                if (!t) problem(where(o), `volume ${v.name}: no ${ref[0]} ${ref[1]} in namespace ${ns(o)}`);
                else for (const it of ref[2].items ?? [])
                        if (!hasKey(t, it.key)) problem(where(o), `volume ${v.name}: ${ref[0]} ${ref[1]} has no key ${it.key}`);
        }
}
for (const p of byKind('PersistentVolumeClaim')) {
        if (!podSpecs.some(({ o, spec }) => ns(o) === ns(p) &&
                        (spec.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === p.obj.metadata.name)))
                problem(where(p), 'mounted by no pod (a claim left over?)');
}
for (const p of byKind('PodDisruptionBudget')) {
        if (!podSpecs.some(({ o, labels }) => ns(o) === ns(p) && selects(p.obj.spec?.selector, labels)))
                problem(where(p), 'its selector selects no pods');
}

// No password in plain text: not in a database URI (anywhere, Secrets included: the
// password has a key of its own), not in a ConfigMap, not as an env value.
const SECRET_NAME = /(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN)$/i;
const URI_WITH_PASSWORD = /postgres(ql)?:\/\/[^/?#@\s]*:[^/?#@\s]*@/;
for (const o of objects) {
        const walk = (v, path) => {
                if (typeof v === 'string') {
                        if (URI_WITH_PASSWORD.test(v))
                                problem(where(o), `${path}: a database URI with a password in it (give the password a Secret key of its own, read through BERTH_DB_PASSWORD_FILE)`);
                } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
                else if (isMap(v)) for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k);
        };
        walk(o.obj, '');
        if (o.obj.kind === 'Secret')
                for (const [k, x] of Object.entries(o.obj.data ?? {})) walk(Buffer.from(String(x), 'base64').toString('utf8'), `data.${k} (decoded)`);
        if (o.obj.kind === 'ConfigMap')
                for (const k of Object.keys(o.obj.data ?? {}))
                        if (SECRET_NAME.test(k)) problem(where(o), `${k}: a password in a ConfigMap, in plain text (use a Secret)`);
                        else if (k === 'BERTH_DB') problem(where(o), 'BERTH_DB: the database URI belongs in a Secret, not a ConfigMap');
}
for (const { o, spec } of podSpecs)
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])])
                for (const e of c.env ?? [])
                        if (e.value !== undefined && (SECRET_NAME.test(e.name) || e.name === 'PGPASSWORD'))
                                problem(where(o), `container ${c.name}: env ${e.name}: a password in plain text (use valueFrom.secretKeyRef, or a file from a Secret)`);

function hasKey(o, key) {
        return key in (o.obj.data ?? {}) || key in (o.obj.stringData ?? {}) || key in (o.obj.binaryData ?? {});
}
function secretValue(o, key) {
        if (o.obj.stringData?.[key] !== undefined) return String(o.obj.stringData[key]);
        if (o.obj.data?.[key] !== undefined) return Buffer.from(String(o.obj.data[key]), 'base64').toString('utf8');
        return undefined;
}
// a label selector (matchLabels, matchExpressions) against a pod's labels; {} selects
// every pod, a missing selector none
function selects(sel, labels) {
        if (!isMap(sel)) return false;
        for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
        for (const e of sel.matchExpressions ?? []) {
                const has = Object.hasOwn(labels, e.key);
                const isIn = has && (e.values ?? []).includes(labels[e.key]);
                if ({ In: !isIn, NotIn: isIn, Exists: !has, DoesNotExist: has }[e.operator] ?? true) return false;
        }
        return true;
}
// an int-or-percent of n (maxSurge and disruption budgets round up, maxUnavailable down)
function scaled(v, n, up) {
        if (typeof v === 'number') return v;
        const m = /^(\d+)%$/.exec(String(v));
        if (!m) return NaN;
        return (up ? Math.ceil : Math.floor)((Number(m[1]) * n) / 100);
}
// The file at path in container c, if a Secret volume provides it: { secretName, key,
// mode, optional, readOnly }, or { error }.
function secretFile(spec, c, path) {
        const mounts = [...(c.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
        for (const m of mounts) {
                const mp = m.mountPath.replace(/\/+$/, '');
                if (!path.startsWith(`${mp}/`) || m.subPath) continue;
                const rel = path.slice(mp.length + 1);
                const s = (spec.volumes ?? []).find((x) => x.name === m.name)?.secret;
                if (!s) return { error: `${path} is on volume ${m.name}, which is no Secret` };
                let key = rel;
                let mode = s.defaultMode ?? 0o644;
                if (s.items) {
                        const it = s.items.find((x) => x.path === rel);
                        if (!it) return { error: `${path}: the Secret volume ${m.name} holds no item ${rel}` };
                        key = it.key;
                        if (it.mode !== undefined) mode = it.mode;
                }
                return { secretName: s.secretName, key, mode, optional: s.optional === true, readOnly: m.readOnly === true };
        }
        return { error: `${path} is no file of a mounted Secret volume` };
}
const octal = (m) => `0${m.toString(8)}`;

// The kubelet reads only type kubernetes.io/dockerconfigjson with key .dockerconfigjson
// (or the legacy kubernetes.io/dockercfg with .dockercfg): check the type, the key, the
// JSON inside, and that it has credentials for the registry of each image pulled.
function checkPullSecret(s, spec, user) {
        const w = where(s);
        const key = { 'kubernetes.io/dockerconfigjson': '.dockerconfigjson', 'kubernetes.io/dockercfg': '.dockercfg' }[s.obj.type];
        if (!key) {
                problem(w, `type ${s.obj.type}: the kubelet only uses kubernetes.io/dockerconfigjson for imagePullSecrets`);
                return;
        }
        let raw = s.obj.stringData?.[key];
        if (raw === undefined && s.obj.data?.[key] !== undefined) raw = Buffer.from(s.obj.data[key], 'base64').toString('utf8');
        if (raw === undefined) {
                problem(w, `no ${key} key`);
                return;
        }
        let cfg;
        try {
                cfg = JSON.parse(raw);
        } catch {
                problem(w, `${key} is not JSON`);
                return;
        }
        const auths = key === '.dockerconfigjson' ? cfg.auths : cfg;
        if (!auths || typeof auths !== 'object') {
                problem(w, `${key} has no "auths" object`);
                return;
        }
        for (const [host, a] of Object.entries(auths)) {
                const hasPair = typeof a?.username === 'string' && typeof a?.password === 'string';
                const hasAuth = typeof a?.auth === 'string' && Buffer.from(a.auth, 'base64').toString().includes(':');
                if (!hasPair && !hasAuth) problem(w, `auths["${host}"]: neither username/password nor auth`);
                if (hasPair && hasAuth && Buffer.from(a.auth, 'base64').toString() !== `${a.username}:${a.password}`)
                        problem(w, `auths["${host}"]: auth differs from username:password`);
        }
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
                const host = registryOf(c.image ?? '');
                if (!Object.keys(auths).some((k) => k.replace(/^https?:\/\//, '').replace(/\/.*$/, '') === host))
                        problem(where(user), `container ${c.name}: pull Secret ${s.obj.metadata.name} has no credentials for ${host}`);
        }
}

// The registry host of an image reference, as the kubelet's keyring matches it.
function registryOf(image) {
        const first = image.split('/')[0];
        if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return first;
        return 'docker.io';
}

// berthd's own Deployment: the container running berthd (its command is berthd serve;
// a Job running the berth image runs an admin command once, such as berthd db copy).
const berthd = podSpecs.filter(({ o, spec }) => o.obj.kind !== 'Job' &&
        (spec.containers ?? []).some((c) => /(^|\/)berth(:|@|$)/.test(c.image ?? '')));
if (byKind('Deployment').length && berthd.length === 0) problem('manifests', 'no Deployment runs the berth image');
for (const { o, spec, labels } of berthd) {
        const w = where(o);
        const c = spec.containers.find((x) => /(^|\/)berth(:|@|$)/.test(x.image ?? ''));
        // the environment berthd sees: the ConfigMap(s) of envFrom, then env; and
        // where each value comes from
        const env = {};
        const src = {};
        for (const ef of c.envFrom ?? []) {
                const cm = ef.configMapRef && find('ConfigMap', ns(o), ef.configMapRef.name);
                for (const [k, v] of Object.entries(cm?.obj.data ?? {})) {
                        env[k] = String(v);
                        src[k] = { from: 'configmap', name: cm.obj.metadata.name };
                        checkEnvName(where(cm), k);
                }
        }
        for (const e of c.env ?? []) {
                env[e.name] = e.value ?? '';
                src[e.name] = e.valueFrom?.secretKeyRef ? { from: 'secret', ref: e.valueFrom.secretKeyRef }
                        : e.valueFrom ? { from: 'other' } : { from: 'value' };
                if (e.name.startsWith('BERTH_')) checkEnvName(w, e.name);
        }
        const fieldRefs = { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace', NODE_NAME: 'spec.nodeName' };
        for (const [name, path] of Object.entries(fieldRefs)) {
                const e = (c.env ?? []).find((x) => x.name === name);
                if (e?.valueFrom?.fieldRef?.fieldPath !== path) problem(w, `env ${name} must come from fieldRef ${path}`);
        }
        if (!(c.env ?? []).some((e) => e.name === 'BERTH_ADMIN_PASSWORD' && e.valueFrom?.secretKeyRef))
                problem(w, 'BERTH_ADMIN_PASSWORD must come from a Secret');

        // the port berthd listens on, and the probes that must reach it
        const listen = env.BERTH_LISTEN ?? '0.0.0.0:5000';
        const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
        const insecure = /^(1|true|yes|on)$/i.test(env.BERTH_INSECURE_HTTP ?? '');
        const resolve = (p) => (typeof p === 'number' ? p : (c.ports ?? []).find((x) => x.name === p)?.containerPort);
        if (!(c.ports ?? []).some((x) => x.containerPort === port)) problem(w, `no containerPort ${port} (BERTH_LISTEN ${listen})`);
        // scrape annotations must point at the metrics listener, and it must listen
        // on more than the pod's loopback for Prometheus to reach it
        const ann = (o.obj.kind === 'Pod' ? o.obj.metadata?.annotations : o.obj.spec?.template?.metadata?.annotations) ?? {};
        if (ann['prometheus.io/scrape'] === 'true') {
                const ml = env.BERTH_METRICS_LISTEN ?? '127.0.0.1:5001';
                const mport = Number(ml.slice(ml.lastIndexOf(':') + 1));
                const mhost = ml.slice(0, ml.lastIndexOf(':'));
                if (ml === '') problem(w, 'prometheus.io/scrape, but BERTH_METRICS_LISTEN is empty (no metrics)');
                else if (/^(127\.|\[?::1\]?$|localhost)/.test(mhost))
                        problem(w, `prometheus.io/scrape, but BERTH_METRICS_LISTEN ${ml} is loopback: nothing outside the pod reaches it`);
                if (Number(ann['prometheus.io/port']) !== mport)
                        problem(w, `prometheus.io/port ${ann['prometheus.io/port']} is not the metrics port ${mport} (BERTH_METRICS_LISTEN ${ml})`);
                if (!(c.ports ?? []).some((x) => x.containerPort === mport)) problem(w, `no containerPort ${mport} (BERTH_METRICS_LISTEN ${ml})`);
        }
        const want = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' };
        for (const [probe, path] of Object.entries(want)) {
                const g = c[probe]?.httpGet;
                if (!g) {
                        problem(w, `${probe} must be an httpGet on ${path}`);
                        continue;
                }
                if (g.path !== path) problem(w, `${probe} path ${g.path}, berthd serves ${path}`);
                if (resolve(g.port) !== port) problem(w, `${probe} port ${g.port} is not berthd's port ${port}`);
                if ((g.scheme ?? 'HTTP') !== (insecure ? 'HTTP' : 'HTTPS')) problem(w, `${probe} scheme ${g.scheme ?? 'HTTP'}, berthd serves ${insecure ? 'HTTP' : 'HTTPS'}`);
        }
        // SIGKILL must not cut the drain short: grace > preStop sleep + BERTH_GRACE
        const grace = Number(env.BERTH_GRACE ?? 25);
        const pre = c.lifecycle?.preStop;
        let preSecs = 0;
        if (pre?.exec?.command?.[0] === 'sleep') preSecs = Number(pre.exec.command[1]);
        else if (pre?.sleep) preSecs = Number(pre.sleep.seconds);
        else problem(w, 'lifecycle.preStop must wait (sleep) for the endpoint to be removed');
        const tgps = spec.terminationGracePeriodSeconds ?? 30;
        if (!(tgps > preSecs + grace)) problem(w, `terminationGracePeriodSeconds ${tgps} must exceed preStop ${preSecs} s + BERTH_GRACE ${grace} s`);
        // restricted security context
        const sc = c.securityContext ?? {};
        const psc = spec.securityContext ?? {};
        if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) problem(w, 'runAsNonRoot must be true');
        if (sc.readOnlyRootFilesystem !== true) problem(w, 'readOnlyRootFilesystem must be true');
        if (sc.allowPrivilegeEscalation !== false) problem(w, 'allowPrivilegeEscalation must be false');
        if (!(sc.capabilities?.drop ?? []).includes('ALL')) problem(w, 'capabilities must drop ALL');
        const dataDir = env.BERTH_DATA ?? '/var/lib/berth';
        const mounts = c.volumeMounts ?? [];
        const dataMount = mounts.find((m) => m.mountPath === dataDir);
        let claim = null;
        if (!dataMount) problem(w, `the data directory ${dataDir} is not a mounted volume`);
        else {
                const v = (spec.volumes ?? []).find((x) => x.name === dataMount.name);
                const name = v?.persistentVolumeClaim?.claimName;
                if (!name) problem(w, `the data volume must be a PersistentVolumeClaim`);
                else if (!(claim = find('PersistentVolumeClaim', ns(o), name))) problem(w, `no PersistentVolumeClaim ${name}`);
        }
        // a Service must select these pods and forward to berthd's port
        const svcs = byKind('Service').filter((s) => ns(s) === ns(o) &&
                Object.entries(s.obj.spec?.selector ?? { none: null }).every(([k, v]) => labels[k] === v));
        if (svcs.length === 0) problem(w, 'no Service selects the berthd pods');
        for (const s of svcs)
                for (const p of s.obj.spec.ports ?? [])
                        if (resolve(p.targetPort ?? p.port) !== port)
                                problem(where(s), `port ${p.name ?? p.port}: targetPort ${p.targetPort} is not berthd's port ${port}`);

        // The metadata: SQLite in the data directory (one writer: one replica, Recreate),
        // or PostgreSQL named by BERTH_DB, which several replicas share.
        const summary = [];
        const isDeployment = o.obj.kind === 'Deployment';
        const replicas = o.obj.spec?.replicas ?? 1;
        const strategy = o.obj.spec?.strategy?.type ?? 'RollingUpdate';
        const pg = src.BERTH_DB !== undefined;
        if (isDeployment) summary.push(`replicas ${replicas}`, `strategy ${strategy}`);
        if (!pg) {
                if (isDeployment && replicas !== 1) problem(w, 'replicas must be 1 (one SQLite writer)');
                if (isDeployment && strategy !== 'Recreate') problem(w, 'strategy must be Recreate (the old pod must let go of the volume)');
                if (src.BERTH_DB_PASSWORD_FILE) problem(w, 'BERTH_DB_PASSWORD_FILE without BERTH_DB');
                summary.push('metadata sqlite');
        } else {
                summary.push(...checkDatabase(o, spec, c, env, src));
        }
        if (pg && isDeployment && replicas > 1) {
                if (strategy !== 'RollingUpdate') {
                        problem(w, `strategy ${strategy}: with ${replicas} replicas use RollingUpdate (${strategy} stops every replica at once)`);
                } else {
                        const ru = o.obj.spec.strategy?.rollingUpdate ?? {};
                        const surge = scaled(ru.maxSurge ?? '25%', replicas, true);
                        const unavailable = scaled(ru.maxUnavailable ?? '25%', replicas, false);
                        summary[1] += ` (maxSurge ${ru.maxSurge ?? '25%'}, maxUnavailable ${ru.maxUnavailable ?? '25%'})`;
                        if (surge === 0 && unavailable === 0) problem(w, 'maxSurge and maxUnavailable are both 0: no rollout can progress');
                        if (unavailable >= replicas) problem(w, `maxUnavailable ${ru.maxUnavailable} lets a rollout stop every replica at once`);
                }
                // a node drain or upgrade evicts them one at a time, and can evict some
                const pdbs = byKind('PodDisruptionBudget').filter((p) => ns(p) === ns(o) && selects(p.obj.spec?.selector, labels));
                if (pdbs.length === 0) problem(w, `no PodDisruptionBudget selects the berthd pods: a node drain may evict all ${replicas} at once`);
                for (const p of pdbs) {
                        const s = p.obj.spec;
                        const evictable = s.minAvailable !== undefined ? replicas - scaled(s.minAvailable, replicas, true)
                                : scaled(s.maxUnavailable, replicas, true);
                        const rule = s.minAvailable !== undefined ? `minAvailable ${s.minAvailable}` : `maxUnavailable ${s.maxUnavailable}`;
                        if (!(evictable >= 1)) problem(where(p), `${rule} of ${replicas} replicas: no pod may ever be evicted (node drains would hang)`);
                        else if (evictable >= replicas) problem(where(p), `${rule} of ${replicas} replicas: every pod may be evicted at once`);
                        summary.push(`PodDisruptionBudget ${p.obj.metadata.name} ${rule}`);
                }
                // replicas on different nodes where the scheduler can
                const aa = spec.affinity?.podAntiAffinity;
                const terms = [...(aa?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
                        ...(aa?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.podAffinityTerm)];
                if (terms.some((t) => t?.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector, labels)))
                        summary.push('anti-affinity kubernetes.io/hostname');
                else problem(w, 'no podAntiAffinity on kubernetes.io/hostname selecting these pods: the replicas may all run on one node');
                // one certificate for all: berthd's generated CA would be made by
                // whichever replica starts first, in the shared volume
                if (!insecure) {
                        if (!env.BERTH_TLS_CERT || !env.BERTH_TLS_KEY)
                                problem(w, `no BERTH_TLS_CERT and BERTH_TLS_KEY: with ${replicas} replicas every one must serve the same certificate, from a Secret`);
                        else {
                                const f = ['BERTH_TLS_CERT', 'BERTH_TLS_KEY'].map((n) => [n, secretFile(spec, c, env[n])]);
                                for (const [n, x] of f) {
                                        if (x.error) problem(w, `${n} ${x.error}: the certificate must come from a Secret`);
                                        else if (x.optional) problem(w, `${n}: the certificate's Secret volume is optional: a replica without it would serve a certificate of its own`);
                                        else checkSecretKey(w, o, x.secretName, x.key, n);
                                }
                                if (!f[0][1].error) summary.push(`certificate from Secret ${f[0][1].secretName}`);
                        }
                }
                if (claim && !(claim.obj.spec?.accessModes ?? []).includes('ReadWriteMany'))
                        problem(where(claim), `access modes ${(claim.obj.spec?.accessModes ?? []).join(',')}: ${replicas} replicas on several nodes need ReadWriteMany`);
        }
        if (claim) summary.push(`data claim ${claim.obj.metadata.name} ${(claim.obj.spec?.accessModes ?? []).join(',')}`);
        if (isDeployment) console.log(`summary: ${o.obj.kind} ${ns(o)}/${o.obj.metadata.name}: ${summary.join(', ')}`);
}

// PostgreSQL: BERTH_DB from a Secret, a postgresql:// URI without a password, with
// TLS to the server; the password from a file of a Secret volume that only berthd
// reads. Returns the summary's parts.
function checkDatabase(o, spec, c, env, src) {
        const w = where(o);
        const out = ['metadata postgresql'];
        const db = src.BERTH_DB;
        if (db.from !== 'secret') {
                problem(w, `BERTH_DB must come from a Secret (secretKeyRef), not ${db.from === 'configmap' ? `the ConfigMap ${db.name}` : 'a value in the manifest'}`);
        } else {
                out.push(`BERTH_DB from Secret ${db.ref.name} key ${db.ref.key}`);
                const s = find('Secret', ns(o), db.ref.name);
                const uri = s && secretValue(s, db.ref.key);
                if (uri !== undefined) {
                        const ws = where(s);
                        let u = null;
                        try {
                                u = new URL(uri);
                        } catch { /* below */ }
                        if (!u || !/^postgres(ql)?:$/.test(u.protocol)) problem(ws, `${db.ref.key}: not a postgresql:// URI`);
                        else {
                                const mode = u.searchParams.get('sslmode') ?? 'prefer';
                                if (!['require', 'verify-ca', 'verify-full'].includes(mode))
                                        problem(ws, `${db.ref.key}: sslmode ${mode}: the password may cross the network in clear (require, verify-ca or verify-full)`);
                                const root = u.searchParams.get('sslrootcert');
                                if (root && root !== 'system') {
                                        const f = secretFile(spec, c, root);
                                        if (f.error) problem(ws, `${db.ref.key}: sslrootcert ${f.error}`);
                                        else checkSecretKey(w, o, f.secretName, f.key, `sslrootcert ${root}`);
                                }
                        }
                }
        }
        const pw = src.BERTH_DB_PASSWORD_FILE;
        if (pw) {
                const path = env.BERTH_DB_PASSWORD_FILE;
                const f = secretFile(spec, c, path);
                if (f.error) problem(w, `BERTH_DB_PASSWORD_FILE ${f.error}`);
                else {
                        if (f.mode !== 0o400 && f.mode !== 0o440)
                                problem(w, `BERTH_DB_PASSWORD_FILE ${path}: mode ${octal(f.mode)}, must be 0400 or 0440 (the kubelet adds group read for fsGroup)`);
                        if (f.optional) problem(w, `BERTH_DB_PASSWORD_FILE ${path}: its Secret volume is optional`);
                        if (!f.readOnly) problem(w, `BERTH_DB_PASSWORD_FILE ${path}: mount its volume readOnly`);
                        checkSecretKey(w, o, f.secretName, f.key, 'BERTH_DB_PASSWORD_FILE');
                        out.push(`password file ${path} from Secret ${f.secretName} key ${f.key} mode ${octal(f.mode)}`);
                }
        } else if (src.PGPASSWORD?.from === 'secret') {
                out.push(`PGPASSWORD from Secret ${src.PGPASSWORD.ref.name}`);
        }
        return out;
}

// a Secret key a file or variable needs (the Secret itself may be the user's own:
// then it is given to the validator beside the manifests, e.g. an *.example.yaml)
function checkSecretKey(w, o, name, key, what) {
        const s = find('Secret', ns(o), name);
        if (!s) problem(w, `${what}: no Secret ${name} in namespace ${ns(o)}`);
        else if (!hasKey(s, key)) problem(w, `${what}: Secret ${name} has no key ${key}`);
}

function checkEnvName(w, name) {
        if (envNames && name.startsWith('BERTH_') && !envNames.has(name))
                problem(w, `${name}: berthd reads no such variable`);
}

// ---- 3. kustomization -------------------------------------------------------------------
for (const k of kustomizations) {
        for (const r of k.obj.resources ?? []) {
                const f = resolve(dirname(k.file), r);
                if (!existsSync(f)) problem(basename(k.file), `resource ${r} does not exist`);
                else if (statSync(f).isDirectory()) {
                        // a kustomization of its own: validated when it was rendered
                        if (!['kustomization.yaml', 'kustomization.yml', 'Kustomization'].some((n) => files.includes(join(f, n))))
                                problem(basename(k.file), `resource ${r} (a folder) was not rendered and validated: use --kustomize`);
                } else if (!files.includes(f)) problem(basename(k.file), `resource ${r} was not validated`);
        }
}

if (problems.length) {
        for (const p of problems) console.log(`INVALID ${p}`);
        process.exit(1);
}
console.log(`ok: ${objects.length} objects in ${files.length} files`);
