// tests/deploy/validate.mjs: offline checks of berth's Kubernetes manifests.
//
//   node validate.mjs [--env-names FILE] [--port N] PATH...
//
// PATH is a folder (every *.yaml in it) or a file. Each object is built with the
// kubernetes-models class for its apiVersion/kind and validated against the Kubernetes
// API schema; then berth's own rules are checked: probe paths and ports, the BERTH_*
// variable names berthd reads (--env-names: one name per line, from the binary), the
// downward API fields, the Secret types and keys the kubelet reads, the references
// between objects (ConfigMap, Secrets, Service selector, imagePullSecrets), and the
// Deployment's shape (one replica, Recreate, grace period, security context).
// Exit status 0 when everything holds, 1 with one line per problem otherwise, 2 on
// usage errors.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, basename, dirname } from 'node:path';
import { parseAllDocuments } from 'yaml';

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// ---- arguments -----------------------------------------------------------------------
let envNames = null;
const paths = [];
{
        const argv = process.argv.slice(2);
        for (let i = 0; i < argv.length; i++) {
                if (argv[i] === '--env-names' && i + 1 < argv.length) {
                        envNames = new Set(readFileSync(argv[++i], 'utf8').split(/\s+/).filter(Boolean));
                } else if (argv[i].startsWith('-')) {
                        console.error(`usage: node validate.mjs [--env-names FILE] PATH...`);
                        process.exit(2);
                } else {
                        paths.push(argv[i]);
                }
        }
        if (paths.length === 0) {
                console.error('usage: node validate.mjs [--env-names FILE] PATH...');
                process.exit(2);
        }
}

// ---- load every document ------------------------------------------------------------
const files = [];
for (const p of paths) {
        if (statSync(p).isDirectory()) {
                for (const f of readdirSync(p).sort())
                        if (/\.ya?ml$/.test(f)) files.push(join(p, f));
        } else {
                files.push(p);
        }
}
const objects = [];      // { file, obj }
const kustomizations = [];
for (const file of files) {
        const docs = parseAllDocuments(readFileSync(file, 'utf8'), { uniqueKeys: true });
        for (const doc of docs) {
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

// berthd's own Deployment: the container running berthd (its command is berthd serve).
const berthd = podSpecs.filter(({ spec }) => (spec.containers ?? []).some((c) => /(^|\/)berth(:|@|$)/.test(c.image ?? '')));
if (byKind('Deployment').length && berthd.length === 0) problem('manifests', 'no Deployment runs the berth image');
for (const { o, spec, labels } of berthd) {
        const w = where(o);
        const c = spec.containers.find((x) => /(^|\/)berth(:|@|$)/.test(x.image ?? ''));
        if (o.obj.kind === 'Deployment') {
                if (o.obj.spec.replicas !== 1) problem(w, 'replicas must be 1 (one SQLite writer)');
                if (o.obj.spec.strategy?.type !== 'Recreate') problem(w, 'strategy must be Recreate (the old pod must let go of the volume)');
        }
        // the environment berthd sees: the ConfigMap(s) of envFrom, then env
        const env = {};
        for (const ef of c.envFrom ?? []) {
                const cm = ef.configMapRef && find('ConfigMap', ns(o), ef.configMapRef.name);
                for (const [k, v] of Object.entries(cm?.obj.data ?? {})) {
                        env[k] = String(v);
                        checkEnvName(where(cm), k);
                }
        }
        for (const e of c.env ?? []) {
                env[e.name] = e.value ?? '';
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
        if (!dataMount) problem(w, `the data directory ${dataDir} is not a mounted volume`);
        else {
                const v = (spec.volumes ?? []).find((x) => x.name === dataMount.name);
                const claim = v?.persistentVolumeClaim?.claimName;
                if (!claim) problem(w, `the data volume must be a PersistentVolumeClaim`);
                else if (!find('PersistentVolumeClaim', ns(o), claim)) problem(w, `no PersistentVolumeClaim ${claim}`);
        }
        // a Service must select these pods and forward to berthd's port
        const svcs = byKind('Service').filter((s) => ns(s) === ns(o) &&
                Object.entries(s.obj.spec?.selector ?? { none: null }).every(([k, v]) => labels[k] === v));
        if (svcs.length === 0) problem(w, 'no Service selects the berthd pods');
        for (const s of svcs)
                for (const p of s.obj.spec.ports ?? [])
                        if (resolve(p.targetPort ?? p.port) !== port)
                                problem(where(s), `port ${p.name ?? p.port}: targetPort ${p.targetPort} is not berthd's port ${port}`);
}

function checkEnvName(w, name) {
        if (envNames && name.startsWith('BERTH_') && !envNames.has(name))
                problem(w, `${name}: berthd reads no such variable`);
}

// ---- 3. kustomization -------------------------------------------------------------------
for (const k of kustomizations) {
        for (const r of k.obj.resources ?? []) {
                const f = join(dirname(k.file), r);
                if (!existsSync(f)) problem(basename(k.file), `resource ${r} does not exist`);
                else if (!files.includes(f)) problem(basename(k.file), `resource ${r} was not validated`);
        }
}

if (problems.length) {
        for (const p of problems) console.log(`INVALID ${p}`);
        process.exit(1);
}
console.log(`ok: ${objects.length} objects in ${files.length} files`);
