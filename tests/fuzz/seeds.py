#!/usr/bin/env python3
"""Seed inputs for the libFuzzer targets in tests/fuzz/, written in the forms real
clients and registries use: manifests and indexes as docker, podman, skopeo, buildx and
oras-style artifact pushes make them, config blobs, docker config.json / .dockercfg /
Kubernetes Secrets in JSON and YAML, WWW-Authenticate challenges of public registries,
image references from docker's grammar, Range / Content-Range values, token-request
forms, keyring keys, OCI layout index.json files, berthd's Bearer tokens and scopes, and
trusted-proxy lists with X-Forwarded-For values.

    tests/fuzz/seeds.py [--out DIR] [--merge FUZZ_BUILD_DIR] [TARGET...]

Without --merge every seed is written to DIR/<target>/<name> (default DIR:
tests/fuzz/corpus). With --merge (a build configured with CC=clang --enable-fuzzers,
`make fuzz` done), each target's existing corpus and the new seeds are minimized
together with libFuzzer's -merge=1 and the corpus folder is replaced by what survives:
seeds keep their names here, other inputs (grown by fuzzing) keep theirs.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_EMPTY = "application/vnd.oci.empty.v1+json"
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

# fuzz-manifest: the first byte picks the Content-Type of the push
CT_NONE, CT_EMPTY, CT_OCI_MANIFEST, CT_OCI_INDEX, CT_DOCKER_MANIFEST, CT_DOCKER_LIST, \
    CT_OCI_CHARSET, CT_SCHEMA1, CT_JSON = range(9)

EMPTY_JSON_DIGEST = "sha256:" + hashlib.sha256(b"{}").hexdigest()


def sha256(label):
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def sha512(label):
    return "sha512:" + hashlib.sha512(label.encode()).hexdigest()


def desc(mt, label, size, **extra):
    d = {"mediaType": mt, "digest": sha256(label), "size": size}
    d.update(extra)
    return d


def compact(obj):
    """Go's encoding/json: no spaces (podman, skopeo, containerd, oras)"""
    return json.dumps(obj, separators=(",", ":")).encode()


def docker_indent(obj):
    """docker push: three-space indentation"""
    return json.dumps(obj, indent=3).encode()


def pretty(obj):
    return json.dumps(obj, indent=2).encode()


def manifests():
    s = {}
    created = "2024-05-14T09:21:07.000000000Z"
    # docker push of a classic image: schema 2, three-space indented, size before digest
    s["docker-schema2-push"] = (CT_DOCKER_MANIFEST, docker_indent({
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_MANIFEST,
        "config": {"mediaType": MT_DOCKER_CONFIG, "size": 1472, "digest": sha256("cfg-alpine")},
        "layers": [
            {"mediaType": MT_DOCKER_LAYER, "size": 3408729, "digest": sha256("alpine-rootfs")},
            {"mediaType": MT_DOCKER_LAYER, "size": 221, "digest": sha256("app-layer")},
        ],
    }))
    # Windows image: a foreign layer with urls
    s["docker-schema2-foreign-layer"] = (CT_DOCKER_MANIFEST, docker_indent({
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_MANIFEST,
        "config": {"mediaType": MT_DOCKER_CONFIG, "size": 2134, "digest": sha256("cfg-win")},
        "layers": [
            {"mediaType": MT_DOCKER_FOREIGN, "size": 1654845952, "digest": sha256("win-base"),
             "urls": ["https://mcr.microsoft.com/v2/windows/servercore/blobs/" + sha256("win-base")]},
            {"mediaType": MT_DOCKER_LAYER, "size": 1024, "digest": sha256("win-app")},
        ],
    }))
    # docker manifest list (docker manifest push), with variant and Windows os.version
    s["docker-manifest-list"] = (CT_DOCKER_LIST, docker_indent({
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_LIST,
        "manifests": [
            {"mediaType": MT_DOCKER_MANIFEST, "size": 528, "digest": sha256("m-amd64"),
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": MT_DOCKER_MANIFEST, "size": 528, "digest": sha256("m-armv7"),
             "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
            {"mediaType": MT_DOCKER_MANIFEST, "size": 1124, "digest": sha256("m-win"),
             "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5820",
                          "os.features": ["win32k"]}},
        ],
    }))
    # podman / skopeo: OCI manifest, compact, mediaType present, annotations
    s["oci-manifest-podman"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256("cfg-fedora"), "size": 1045},
        "layers": [{"mediaType": MT_OCI_LAYER_GZ, "digest": sha256("fedora-rootfs"), "size": 63128219}],
        "annotations": {"org.opencontainers.image.base.digest": "",
                        "org.opencontainers.image.base.name": ""},
    }))
    # an OCI manifest without the optional mediaType field (older tools), zstd layer
    s["oci-manifest-no-mediatype"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256("cfg-zstd"), "size": 800},
        "layers": [{"mediaType": MT_OCI_LAYER_ZSTD, "digest": sha256("zstd-layer"), "size": 4096}],
    }))
    # non-distributable layer with urls, pushed with "; charset=utf-8"
    s["oci-manifest-nondistributable"] = (CT_OCI_CHARSET, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256("cfg-nd"), "size": 700},
        "layers": [{"mediaType": MT_OCI_LAYER_ND, "digest": sha256("nd"), "size": 10,
                    "urls": ["https://example.com/layer.tar.gz"]}],
    }))
    # buildx: OCI index with platforms and an attestation manifest (unknown/unknown)
    s["oci-index-buildx"] = (CT_OCI_INDEX, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "manifests": [
            {"mediaType": MT_OCI_MANIFEST, "digest": sha256("bx-amd64"), "size": 673,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": MT_OCI_MANIFEST, "digest": sha256("bx-arm64"), "size": 673,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": MT_OCI_MANIFEST, "digest": sha256("bx-att"), "size": 566,
             "annotations": {"vnd.docker.reference.digest": sha256("bx-amd64"),
                             "vnd.docker.reference.type": "attestation-manifest"},
             "platform": {"architecture": "unknown", "os": "unknown"}},
        ],
    }))
    # buildx attestation manifest: in-toto layers with predicate-type annotations
    s["oci-manifest-attestation"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256("att-cfg"), "size": 167},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": sha256("prov"), "size": 1312,
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}},
                   {"mediaType": "application/vnd.in-toto+json", "digest": sha256("sbom"), "size": 9874,
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}],
    }))
    # oras push of an artifact: artifactType, empty config with data, subject, annotations
    s["oci-artifact-oras"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1",
        "config": {"mediaType": MT_OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2, "data": "e30="},
        "layers": [{"mediaType": "application/spdx+json", "digest": sha256("sbom.spdx.json"), "size": 20312,
                    "annotations": {"org.opencontainers.image.title": "sbom.spdx.json"}}],
        "subject": {"mediaType": MT_OCI_MANIFEST, "digest": sha256("bx-amd64"), "size": 673},
        "annotations": {"org.opencontainers.image.created": created},
    }))
    # a signature (notation style): artifactType, jose layer, subject
    s["oci-artifact-signature"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": "application/vnd.cncf.notary.signature",
        "config": {"mediaType": MT_OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [{"mediaType": "application/jose+json", "digest": sha256("sig"), "size": 2090}],
        "subject": {"mediaType": MT_OCI_INDEX, "digest": sha256("idx"), "size": 1609},
        "annotations": {"io.cncf.notary.x509chain.thumbprint#S256": "[\"" + hashlib.sha256(b"c").hexdigest() + "\"]",
                        "org.opencontainers.image.created": created},
    }))
    # the empty-layer artifact (layers: [the empty descriptor]) as the image spec suggests
    s["oci-artifact-empty-layer"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "artifactType": "application/vnd.example+type",
        "config": {"mediaType": MT_OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
        "layers": [{"mediaType": MT_OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2}],
    }))
    # a Helm chart
    s["oci-helm-chart"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": sha256("chart-cfg"), "size": 117},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "digest": sha256("chart"), "size": 3617}],
        "annotations": {"org.opencontainers.image.title": "mychart", "org.opencontainers.image.version": "0.1.0"},
    }))
    # a referrers-style index with artifactType and subject; a sha512 child
    s["oci-index-artifact"] = (CT_OCI_INDEX, compact({
        "schemaVersion": 2,
        "mediaType": MT_OCI_INDEX,
        "artifactType": "application/vnd.example.bundle",
        "manifests": [{"mediaType": MT_OCI_MANIFEST, "digest": sha512("child"), "size": 400,
                       "artifactType": "application/vnd.example.sbom.v1",
                       "annotations": {"org.opencontainers.image.created": created}}],
        "subject": {"mediaType": MT_OCI_MANIFEST, "digest": sha256("subj"), "size": 10},
        "annotations": {"com.example.key": "value"},
    }))
    s["oci-index-empty"] = (CT_OCI_INDEX, b'{"schemaVersion":2,"mediaType":"' + MT_OCI_INDEX.encode() + b'","manifests":[]}')
    # no Content-Type: the media type comes from the body
    s["no-content-type-docker"] = (CT_NONE, compact({
        "schemaVersion": 2, "mediaType": MT_DOCKER_MANIFEST,
        "config": {"mediaType": MT_DOCKER_CONFIG, "size": 1, "digest": sha256("c")},
        "layers": []}))
    s["empty-content-type-index"] = (CT_EMPTY, compact({
        "schemaVersion": 2, "manifests": [{"mediaType": MT_OCI_MANIFEST, "digest": sha256("x"), "size": 1,
                                            "platform": {"os": "linux", "architecture": "s390x"}}]}))
    # Docker schema 1 (signed), refused
    s["docker-schema1-signed"] = (CT_SCHEMA1, pretty({
        "schemaVersion": 1, "name": "library/hello-world", "tag": "latest", "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256("s1")}],
        "history": [{"v1Compatibility": "{\"id\":\"e4\",\"created\":\"2016-01-01T00:00:00Z\"}"}],
        "signatures": [{"header": {"jwk": {"crv": "P-256", "kid": "ABCD:EFGH", "kty": "EC", "x": "x", "y": "y"},
                                   "alg": "ES256"}, "signature": "c2ln", "protected": "cHJvdA"}]}))
    # config blobs pushed (or sent) as a manifest: refused, they are not manifests
    s["docker-config-blob"] = (CT_JSON, compact({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"], "WorkingDir": "/", "Labels": None},
        "rootfs": {"type": "layers", "diff_ids": [sha256("diff")]},
        "history": [{"created": created, "created_by": "/bin/sh -c #(nop) ADD file:abc in / "}]}))
    s["oci-config-blob"] = (CT_OCI_MANIFEST, compact({
        "created": created, "architecture": "arm64", "variant": "v8", "os": "linux",
        "config": {"User": "1000:1000", "Entrypoint": ["/app"], "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": [sha256("d1"), sha256("d2")]}}))
    # edge cases of the validator
    s["bad-schema-version"] = (CT_OCI_MANIFEST, b'{"schemaVersion":1,"config":{},"layers":[]}')
    s["bad-negative-size"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2, "config": {"mediaType": MT_OCI_CONFIG, "digest": sha256("n"), "size": -1},
        "layers": []}))
    s["bad-digest"] = (CT_OCI_MANIFEST, compact({
        "schemaVersion": 2, "config": {"mediaType": MT_OCI_CONFIG, "digest": "sha256:XYZ", "size": 1},
        "layers": []}))
    s["bad-duplicate-key"] = (CT_OCI_MANIFEST, b'{"schemaVersion":2,"schemaVersion":2}')
    s["bad-trailing"] = (CT_OCI_INDEX, b'{"schemaVersion":2,"manifests":[]} {}')
    s["bad-platform"] = (CT_OCI_INDEX, compact({
        "schemaVersion": 2, "manifests": [{"mediaType": MT_OCI_MANIFEST, "digest": sha256("p"), "size": 1,
                                           "platform": {"os": "linux"}}]}))
    s["bad-mismatch"] = (CT_DOCKER_LIST, compact({
        "schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": []}))
    return {k: bytes([ct]) + body for k, (ct, body) in s.items()}


def digests():
    s = {
        "sha256-empty": sha256_of(b""),
        "sha256": sha256("layer"),
        "sha512": sha512("layer"),
        "sha256-uppercase": "sha256:" + hashlib.sha256(b"u").hexdigest().upper(),
        "sha256-short": "sha256:" + hashlib.sha256(b"s").hexdigest()[:63],
        "sha256-long": "sha256:" + hashlib.sha256(b"s").hexdigest() + "0",
        "sha512-as-sha256": "sha256:" + hashlib.sha512(b"m").hexdigest(),
        "sha384": "sha384:" + hashlib.sha384(b"x").hexdigest(),
        "b64-encoding": "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        "blake3": "blake3:" + hashlib.sha256(b"b").hexdigest(),
        "no-colon": hashlib.sha256(b"n").hexdigest(),
        "no-alg": ":" + hashlib.sha256(b"n").hexdigest(),
        "nul-inside": "sha256:" + hashlib.sha256(b"z").hexdigest()[:32] + "\0" + hashlib.sha256(b"z").hexdigest()[33:],
    }
    out = {k: v.encode() for k, v in s.items()}
    out["data-tar-header"] = b"etc/\0" + b"\0" * 95 + b"0000755\0" + b"0000000\0" * 2
    return out


def sha256_of(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def names():
    s = [
        ("library-nginx", "library/nginx"),
        ("single", "alpine"),
        ("deep", "team/project/sub/component/app"),
        ("separators", "a.b_c__d-e---f/g.h"),
        ("uppercase", "Library/Nginx"),
        ("double-slash", "a//b"),
        ("dotdot", "a/../b"),
        ("leading-sep", "-abc/_def"),
        ("trailing-slash", "abc/"),
        ("triple-underscore", "a___b"),
        ("tag-semver", "v1.2.3-rc.1_build.5"),
        ("tag-latest", "latest"),
        ("tag-leading-dot", ".hidden"),
        ("tag-128", "t" * 128),
        ("tag-129", "t" * 129),
        ("name-long", "/".join(["component%02d" % i for i in range(24)])),
        ("digest-like", "sha256:abc"),
        ("space", "my repo"),
    ]
    return {k: v.encode() for k, v in s}


def refs():
    d = hashlib.sha256(b"ref").hexdigest()
    s = [
        ("short", "nginx"),
        ("tag", "nginx:1.25-alpine"),
        ("user", "user/repo:1.0"),
        ("docker-io", "docker.io/library/nginx:latest"),
        ("index-docker-io", "index.docker.io/library/busybox"),
        ("registry-port", "my-registry.example.com:5000/example/web-example:v1.0.1"),
        ("localhost", "localhost/x"),
        ("localhost-port", "localhost:5000/x:tag"),
        ("localhost-as-name", "localhost:5000"),
        ("ipv4-port", "192.168.1.10:5000/team/app@sha256:" + d),
        ("ipv6", "[::1]:5000/app:v1"),
        ("ipv6-full", "[2001:db8::1]/ns/app"),
        ("ipv6-no-port-bracket", "[fe80::1%eth0]:5000/app"),
        ("digest", "quay.io/coreos/etcd@sha256:" + d),
        ("tag-and-digest", "ghcr.io/org/app:v2@sha256:" + d),
        ("sha512", "registry.example/app@sha512:" + hashlib.sha512(b"r").hexdigest()),
        ("uppercase-repo", "docker.io/Library/Nginx"),
        ("uppercase-host", "Registry.Example.COM/app"),
        ("long-path", "registry.example:443/" + "/".join("p%d" % i for i in range(40)) + ":t"),
        ("long-tag", "app:" + "t" * 128),
        ("too-long-tag", "app:" + "t" * 129),
        ("hex64-name", hashlib.sha256(b"id").hexdigest()),
        ("bad-empty-tag", "nginx:"),
        ("bad-at", "nginx@"),
        ("bad-scheme", "https://registry.example/app"),
        ("separators", "reg.example/a.b_c__d-e---f"),
        ("gcr", "gcr.io/google-containers/pause:3.9"),
        ("ecr", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:prod"),
    ]
    return {k: v.encode() for k, v in s}


def basic():
    def b(s):
        return base64.b64encode(s.encode()).decode()
    s = [
        ("alice", "Basic " + b("alice:s3cr3t")),
        ("lowercase-scheme", "basic " + b("bob:pw")),
        ("no-padding", "Basic " + b("ab:c").rstrip("=")),
        ("colon-in-password", "Basic " + b("robot$ci:pa:ss:word")),
        ("empty-password", "Basic " + b("user:")),
        ("empty-user", "Basic " + b(":password")),
        ("no-colon", "Basic " + b("nocolon")),
        ("utf8", "Basic " + b("jos\u00e9:p\u00e4ss")),
        ("extra-spaces", "Basic    " + b("u:p") + "  "),
        ("bearer", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
        ("non-canonical", "Basic YR=="),
        ("control-char", "Basic " + b("us\ter:p")),
        ("token-only", "Basic"),
    ]
    return {k: v.encode() for k, v in s}


def ranges():
    # 8 bytes of body size (little-endian, as the target reads it on x86), then the value
    s = [
        (1000, "bytes=0-99"),
        (1000, "bytes=100-"),
        (1000, "bytes=-500"),
        (1000, "bytes=0-0"),
        (1000, "bytes=999-999"),
        (1000, "bytes=1000-"),
        (1000, "bytes=0-99,200-299"),
        (1000, "bytes=-0"),
        (0, "bytes=0-"),
        (1 << 39, "bytes=549755813887-"),
        (1000, "0-1023"),
        (1000, "bytes 0-1023/4096"),
        (1000, "bytes=1024-2047/*"),
        (1000, "bytes */1000"),
        (1000, "bytes=18446744073709551615-18446744073709551615"),
        (1000, "bytes=18446744073709551616-"),
        (1000, "items=0-9"),
        (1000, "bytes = 0-1"),
    ]
    return {"%d-%s" % (i, v.replace("/", "_").replace(" ", "_").replace("*", "x")[:40]):
            struct.pack("<Q", n) + v.encode() for i, (n, v) in enumerate(s)}


def forms():
    s = [
        # docker login against a token server (the client posts the password grant)
        ("docker-password", "client_id=docker&grant_type=password&password=s3cr%21t%26more&service=registry.example&"
                            "username=alice&access_type=offline"),
        # containerd / docker refresh
        ("refresh-token", "access_type=offline&client_id=containerd-client&grant_type=refresh_token&"
                          "refresh_token=eyJhbGciOiJFUzI1NiJ9.e30.c2ln&scope=repository%3Alibrary%2Fnginx%3Apull&"
                          "service=registry.example"),
        ("scope-push", "grant_type=password&username=ci%2Bbot&password=p+a+s+s&service=reg&"
                       "scope=repository%3Ateam%2Fapp%3Apull%2Cpush&scope=repository%3Ateam%2Fbase%3Apull"),
        ("plus-and-percent", "username=a+b%20c&password=%25%2B%3D%26"),
        ("empty-values", "grant_type=&username=&password="),
        ("repeated-key", "username=first&username=second&a=1"),
        ("bad-percent", "username=%zz&password=%4"),
        ("nul-escape", "password=ab%00cd"),
        ("no-equals", "grant_type&username"),
        ("key-prefix", "usernamex=1&xusername=2&username=3"),
        ("long-value", "password=" + "x" * 80),
    ]
    return {k: v.encode() for k, v in s}


def dockercfgs():
    def b(s):
        return base64.b64encode(s.encode()).decode()
    config_json = {"auths": {
        "https://index.docker.io/v1/": {"auth": b("alice:hub-token")},
        "registry.example:5000": {"auth": b("robot$ci:s3cr3t")},
        "ghcr.io": {"username": "octocat", "password": "ghp_x"},
        "*.example.com": {"auth": b("glob:pw")},
    }}
    s = {}
    s["config-json"] = pretty(config_json)
    s["config-json-docker-desktop"] = pretty({
        "auths": {"https://index.docker.io/v1/": {}, "quay.io": {"auth": b("q:p"), "email": "q@example.com"}},
        "credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud"}, "currentContext": "default",
        "HttpHeaders": {"User-Agent": "Docker-Client/24.0.7 (linux)"}, "psFormat": "table {{.ID}}"})
    s["config-json-identitytoken"] = compact({"auths": {"myacr.azurecr.io": {
        "auth": b("00000000-0000-0000-0000-000000000000:"), "identitytoken": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}}})
    s["config-json-podman"] = pretty({"auths": {"registry.example:5000": {"auth": b("u:p")},
                                                "http://insecure.example/v2/": {"auth": b("i:p")}}})
    s["dockercfg-legacy"] = compact({"https://index.docker.io/v1/": {"auth": b("legacy:pw"), "email": "l@example.com"},
                                     "registry.example": {"username": "x", "password": "y"}})
    payload = b(compact(config_json).decode())
    s["secret-json"] = pretty({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": "regcred", "namespace": "default"},
                               "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": payload}})
    s["secret-json-dockercfg"] = compact({"kind": "Secret", "type": "kubernetes.io/dockercfg",
                                          "stringData": {".dockercfg": compact({"reg": {"auth": b("a:b")}}).decode()}})
    s["secret-yaml-kubectl"] = (
        "apiVersion: v1\n"
        "data:\n"
        "  .dockerconfigjson: " + payload + "\n"
        "kind: Secret\n"
        "metadata:\n"
        "  creationTimestamp: null\n"
        "  name: regcred\n"
        "type: kubernetes.io/dockerconfigjson\n").encode()
    s["secret-yaml-stringdata-block"] = (
        "# pull secret\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        "  name: regcred\n"
        "  labels:\n"
        "    app: web\n"
        "  annotations:\n"
        "    note: \"x\"\n"
        "type: kubernetes.io/dockerconfigjson\n"
        "immutable: true\n"
        "stringData:\n"
        "  .dockerconfigjson: |\n"
        "    {\"auths\": {\n"
        "      \"registry.example:5000\": {\"username\": \"alice\", \"password\": \"s3cr3t\"}\n"
        "    }}\n").encode()
    s["secret-yaml-quoted-crlf"] = (
        "apiVersion: v1\r\nkind: \"Secret\"\r\ntype: 'kubernetes.io/dockercfg'\r\ndata:\r\n"
        "  \".dockercfg\": \"" + b(compact({"reg": {"auth": b("a:b")}}).decode()) + "\"   # quoted\r\n").encode()
    s["secret-yaml-chomp"] = (
        "kind: Secret\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: |-\n"
        "    {\"auths\":{}}\n\ndata: {}\n").encode()
    s["bad-yaml-anchor"] = b"kind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: &a e30=\n"
    s["bad-auth-nocolon"] = compact({"auths": {"r": {"auth": b("nocolon")}}})
    return s


def challenges():
    s = [
        ("docker-hub", 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                       'scope="repository:library/ubuntu:pull"'),
        ("docker-hub-push", 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                            'scope="repository:samalba/my-app:pull,push"'),
        ("ghcr", 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull"'),
        ("quay", 'Bearer realm="https://quay.io/v2/auth",service="quay.io"'),
        ("gcr-unquoted", 'Bearer realm="https://gcr.io/v2/token",service=gcr.io'),
        ("distribution-token-error", 'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
                                     'scope="repository:team/app:pull,push",error="insufficient_scope"'),
        ("distribution-invalid-token", 'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
                                       'error="invalid_token"'),
        ("distribution-htpasswd", 'Basic realm="Registry Realm"'),
        ("ecr-basic", 'Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"'),
        ("harbor", 'Bearer realm="https://harbor.example/service/token",service="harbor-registry"'),
        ("catalog-scope", 'Bearer realm="https://reg.example/auth/token",service="reg.example",scope="registry:catalog:*"'),
        ("two-scopes", 'Bearer realm="https://r/token",service="r",scope="repository:a:pull repository:b:pull"'),
        ("escaped-quote", 'Bearer realm="https://r/t\\"oken",service="s\\\\"'),
        ("spaces", '  bearer   realm = "https://r/token" ,  service="r"'),
        ("uppercase", 'BEARER REALM="https://r/token",SERVICE="r"'),
        ("bearer-no-realm", 'Bearer service="r"'),
        ("unterminated", 'Bearer realm="https://r/token'),
        ("negotiate", 'Negotiate'),
        ("basic-bare", 'Basic'),
        ("duplicate-realm", 'Bearer realm="https://a/token",realm="https://b/token"'),
    ]
    return {k: v.encode() for k, v in s}


def keyrings():
    s = [
        ("hub-legacy-key", ["docker.io/library/nginx", "https://index.docker.io/v1/", "!index.docker.io"]),
        ("glob-subdomain", ["registry.example.com/team/app", "*.example.com", "*.*.example.com", "registry.example.com"]),
        ("port", ["registry.example:5000/team/app", "registry.example:5000", "registry.example", "!registry.example:5001"]),
        ("path-prefix", ["quay.io/coreos/etcd", "quay.io/coreos", "quay.io/cor", "quay.io", "https://quay.io/v2/"]),
        ("scheme-v1-v2", ["gcr.io/project/app", "http://gcr.io/v1/", "https://gcr.io/v2/project", "ftp://gcr.io"]),
        ("ipv6", ["[::1]:5000/app", "[::1]:5000", "[::1]", "http://[::1]:5000/v2/"]),
        ("ipv4", ["192.168.1.10:5000/team/app", "192.168.1.10:5000", "192.168.*.*:5000"]),
        ("classes", ["registry-b.example.com/app", "registry-[a-c].example.com", "registry-[^a].example.com",
                     "registry-?.example.com", "registry-\\b.example.com", "registry-[].example.com"]),
        ("short-name", ["library/nginx", "!https://index.docker.io/v1/", "docker.io"]),
        ("ecr-glob", ["123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
                      "*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.us-east-1.amazonaws.com/app"]),
        ("empty-image", ["", "registry.example", "!*"]),
    ]
    return {k: ("\n".join(v) + "\n").encode() for k, v in s}


def layouts():
    def entry(ref, label, **extra):
        e = {"mediaType": MT_OCI_MANIFEST, "digest": sha256(label), "size": 1234,
             "annotations": {"org.opencontainers.image.ref.name": ref}}
        e["annotations"].update(extra)
        return e
    s = {}
    s["berth-empty"] = b'{"schemaVersion":2,"manifests":[]}'
    s["berth-pulled"] = compact({"schemaVersion": 2, "manifests": [
        entry("docker.io/library/nginx:latest", "nginx", **{
            "io.berth.resolved-digest": sha256("nginx-index"),
            "io.berth.pulled-by": hashlib.sha256(b"cred").hexdigest() + " anonymous"}),
        entry("registry.example:5000/team/app@sha256:" + hashlib.sha256(b"app").hexdigest(), "app"),
        entry("[::1]:5000/x:v1", "x"),
    ]})
    # skopeo copy docker://... oci:dir:tag writes the bare tag as the ref name, with mediaType
    s["skopeo-oci-dir"] = compact({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": [
        {"mediaType": MT_OCI_MANIFEST, "digest": sha256("sk"), "size": 1034,
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}]})
    # an index another tool wrote: platforms, no names, an index entry, sha512
    s["foreign-tool"] = pretty({"schemaVersion": 2, "manifests": [
        {"mediaType": MT_OCI_INDEX, "digest": sha256("idx"), "size": 500},
        {"mediaType": MT_OCI_MANIFEST, "digest": sha512("m"), "size": 700,
         "platform": {"architecture": "arm64", "os": "linux"},
         "annotations": {"org.opencontainers.image.ref.name": "registry.example/a:b"}}],
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}})
    s["no-manifests-key"] = b'{"schemaVersion":2}'
    s["bad-entries"] = compact({"schemaVersion": 2, "manifests": [
        {"digest": "sha256:nothex", "annotations": {"org.opencontainers.image.ref.name": "r/a:1"}},
        {"digest": sha256("ok"), "annotations": {"org.opencontainers.image.ref.name": "r/a:1"}},
        {"digest": sha256("num"), "size": "12", "mediaType": 5,
         "annotations": {"org.opencontainers.image.ref.name": 7}},
        "not an object", None]})
    s["duplicate-refs"] = compact({"schemaVersion": 2, "manifests": [
        entry("r/a:1", "one"), entry("r/a:1", "two"),
        entry("fuzz.invalid/probe/put:tag", "probe")]})
    s["bad-manifests-object"] = b'{"schemaVersion":2,"manifests":{}}'
    s["bad-duplicate-key"] = b'{"manifests":[],"manifests":[]}'
    s["bad-not-object"] = b'[]'
    return s


TOKEN_KEY = bytes([0x42]) + bytes(31)  # the fixed key of fuzz-token


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token_of(payload):
    enc = b64url(payload.encode())
    mac = hmac.new(TOKEN_KEY, enc.encode(), hashlib.sha256).digest()
    return enc + "." + b64url(mac)


def tokens():
    """fuzz-token: first byte 0 a token, 1 a payload (signed by the target), 2 a scope"""
    cred = hashlib.sha256(b"cred").hexdigest()[:32]
    user = "1;1900000000;12;u;alice;%s;1;;library/nginx:3,team/app:1" % cred
    robot = "1;1900000000;3;r;robot.ci;%s;1;team;team/app:7" % cred
    anon = "1;1900000000;0;a;;;0;;library/nginx:1"
    s = {
        "token-user": "\0" + token_of(user),
        "token-robot": "\0" + token_of(robot),
        "token-anonymous": "\0" + token_of(anon),
        "token-bad-mac": "\0" + token_of(user)[:-2] + "AA",
        "token-padded": "\0" + token_of(anon) + "=",
        "token-jwt": "\0eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.c2ln",
        "payload-user": "\1" + user,
        "payload-robot": "\1" + robot,
        "payload-anonymous": "\1" + anon,
        "payload-no-scopes": "\1" + "1;1900000000;0;u;bob;%s;0;;" % cred,
        "payload-leading-zero": "\1" + "1;01900000000;0;a;;;0;;",
        "payload-uppercase-cred": "\1" + "1;1900000000;1;u;alice;%s;0;;" % cred.upper(),
        "payload-duplicate-scope": "\1" + "1;1900000000;1;a;;;0;;a/b:1,a/b:2",
        "payload-ten-fields": "\1" + anon + ";x",
        "payload-robot-no-project": "\1" + "1;1900000000;1;r;robot.ci;%s;0;;" % cred,
        "scope-pull": "\2repository:library/nginx:pull",
        "scope-push": "\2repository:team/app:pull,push",
        "scope-two": "\2repository:a/b:pull repository:c/d:push,delete",
        "scope-star": "\2repository:team/app:*",
        "scope-catalog": "\2registry:catalog:*",
        "scope-plugin": "\2repository(plugin):team/app:pull",
        "scope-port-in-name": "\2repository:host:5000/app:pull",
        "scope-duplicate": "\2repository:a:pull repository:a:push",
        "scope-seventeen": "\2" + " ".join("repository:r%d:pull" % i for i in range(17)),
        "scope-unknown-action": "\2repository:a:fly,,pull",
    }
    return {k: v.encode() for k, v in s.items()}


def proxies():
    """fuzz-proxy: a --trusted-proxies list, NUL, X-Forwarded-For values one per line"""
    s = [
        ("nginx-private", "10.0.0.0/8, 192.168.0.0/16", "203.0.113.7, 10.0.0.2"),
        ("loopback", "127.0.0.1", "198.51.100.1"),
        ("ipv6", "::1/128,fd00::/8", "2001:db8::1, fd00::5"),
        ("mapped", "10.0.0.1", "::ffff:192.0.2.1"),
        ("two-headers", "10.0.0.1,10.0.0.2", "192.0.2.1, 10.0.0.2\n10.0.0.1"),
        ("all-trusted", "10.0.0.0/8", "10.1.1.1, 10.2.2.2"),
        ("everything", "0.0.0.0/0,::/0", "192.0.2.9"),
        ("empty-list", "", " 192.0.2.1"),
        ("bad-prefix", "10.0.0.0/33", "1.2.3.4"),
        ("bad-bracket", "10.0.0.1", "[2001:db8::1]:443"),
        ("bad-word", "10.0.0.1", "unknown"),
        ("bad-forwarded-syntax", "10.0.0.1", "for=192.0.2.43"),
        ("bad-leading-zero", "10.0.0.1", "001.2.3.4"),
        ("bad-zone", "fe80::1%eth0/64", "fe80::2"),
        ("host-bits", "192.168.1.77/24", "192.168.1.1, 8.8.8.8"),
        ("spaces-empty", "10.0.0.1 ,  10.0.0.2", " , "),
    ]
    return {k: (lst + "\0" + hdr).encode() for k, lst, hdr in s}

def requests():
    """fuzz-request: a selector byte (bit 0: the Basic daemon, bits 0+1: with the known
    user), then requests as text separated by a line "=====" ("@LOC": the last Location)"""
    OCI_M = "application/vnd.oci.image.manifest.v1+json"
    OCI_I = "application/vnd.oci.image.index.v1+json"
    DOCKER_M = "application/vnd.docker.distribution.manifest.v2+json"
    DOCKER_L = "application/vnd.docker.distribution.manifest.list.v2+json"
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    layer = b"layer-bytes"
    cd, ld = "sha256:" + hashlib.sha256(cfg).hexdigest(), "sha256:" + hashlib.sha256(layer).hexdigest()
    man = compact({"schemaVersion": 2, "mediaType": OCI_M,
                   "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
                   "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld,
                               "size": len(layer)}],
                   "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}})
    md = "sha256:" + hashlib.sha256(man).hexdigest()
    art = compact({"schemaVersion": 2, "mediaType": OCI_M, "artifactType": "application/vnd.example.sbom+json",
                   "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                              "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                              "size": 2, "data": "e30="},
                   "layers": [{"mediaType": "application/vnd.example.sbom+json", "digest": ld, "size": len(layer)}],
                   "subject": {"mediaType": OCI_M, "digest": md, "size": len(man)}})
    idx = compact({"schemaVersion": 2, "mediaType": OCI_I, "manifests": [
        {"mediaType": OCI_M, "digest": md, "size": len(man), "platform": {"architecture": "amd64", "os": "linux"}}]})
    dman = docker_indent({"schemaVersion": 2, "mediaType": DOCKER_M,
                          "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd,
                                     "size": len(cfg)},
                          "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": ld,
                                      "size": len(layer)}]})

    def req(line, headers=(), body=b""):
        return (line + "\n" + "".join(h + "\n" for h in headers) + "\n").encode() + body

    def seq(*reqs):
        return b"\n=====\n".join(reqs)

    push_blobs = seq(req("POST /v2/app/blobs/uploads/?digest=" + cd, ["Content-Type: application/octet-stream"], cfg),
                     req("POST /v2/app/blobs/uploads/?digest=" + ld, ["Content-Type: application/octet-stream"], layer),
                     req("POST /v2/app/blobs/uploads/?digest=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e"
                         "8310c060f61caaff8a", [], b"{}"))
    s = {
        "base": req("GET /v2/"),
        "health": req("GET /healthz"),
        "ready": req("HEAD /readyz"),
        "catalog": req("GET /v2/_catalog?n=2&last=a"),
        "tags-list": req("GET /v2/library/nginx/tags/list?n=10&last=v1"),
        "blob-monolithic": req("POST /v2/app/blobs/uploads/?digest=" + cd,
                               ["Content-Type: application/octet-stream"], cfg),
        "blob-chunked": seq(req("POST /v2/app/blobs/uploads/"),
                            req("PATCH @LOC", ["Content-Type: application/octet-stream", "Content-Range: 0-4"],
                                layer[:5]),
                            req("PATCH @LOC", ["Content-Range: 5-10"], layer[5:]),
                            req("GET @LOC"),
                            req("PUT @LOC?digest=" + ld),
                            req("HEAD /v2/app/blobs/" + ld)),
        "blob-put-digest": seq(req("POST /v2/a/b/c/blobs/uploads/"), req("PUT @LOC?digest=" + ld, [], layer)),
        "blob-cancel": seq(req("POST /v2/app/blobs/uploads/"), req("DELETE @LOC"), req("GET @LOC")),
        "blob-mount": req("POST /v2/other/blobs/uploads/?mount=%s&from=app" % ld),
        "blob-range": req("GET /v2/app/blobs/" + ld, ["Range: bytes=2-5", "If-None-Match: \"%s\"" % ld]),
        "blob-bad-digest": req("POST /v2/app/blobs/uploads/?digest=sha256:0000", [], b"x"),
        "push-image": seq(push_blobs,
                          req("PUT /v2/app/manifests/v1", ["Content-Type: " + OCI_M], man),
                          req("GET /v2/app/manifests/v1", ["Accept: " + OCI_M, "Accept: " + DOCKER_M]),
                          req("PUT /v2/app/manifests/list", ["Content-Type: " + OCI_I], idx),
                          req("GET /v2/app/manifests/list", ["Accept: " + DOCKER_M + ", " + OCI_M]),
                          req("PUT /v2/app/manifests/sbom", ["Content-Type: " + OCI_M], art),
                          req("GET /v2/app/referrers/%s?artifactType=application/vnd.example.sbom+json" % md),
                          req("GET /v2/app/tags/list?n=1")),
        "push-docker": seq(push_blobs, req("PUT /v2/app/manifests/latest", ["Content-Type: " + DOCKER_M], dman),
                           req("HEAD /v2/app/manifests/latest", ["Accept: " + DOCKER_M + ";q=0.9, */*"])),
        "manifest-bad": req("PUT /v2/app/manifests/v2", ["Content-Type: " + OCI_M], b'{"schemaVersion":2,"layers":['),
        "manifest-delete": req("DELETE /v2/app/manifests/" + md),
        "manifest-list-docker": req("PUT /v2/app/manifests/dl", ["Content-Type: " + DOCKER_L],
                                    compact({"schemaVersion": 2, "mediaType": DOCKER_L, "manifests": []})),
        "referrers": req("GET /v2/app/referrers/" + md),
        "token-get": req("GET /auth/token?service=berth&scope=repository:app:pull,push&scope=registry:catalog:*"),
        "token-post": req("POST /auth/token", ["Content-Type: application/x-www-form-urlencoded"],
                          b"grant_type=password&username=admin&password=fuzz-password-1&service=berth&"
                          b"scope=repository%3Aapp%3Apull"),
        "bad-name": req("GET /v2/A//b/manifests/x"),
        "not-allowed": req("PATCH /v2/_catalog"),
    }
    out = {}
    for k, v in s.items():
        out["none-" + k] = b"\x00" + v
    for k in ("catalog", "push-image", "token-get", "token-post", "blob-chunked", "referrers"):
        out["basic-user-" + k] = b"\x03" + s[k]
    for k in ("catalog", "base", "token-get"):
        out["basic-anon-" + k] = b"\x01" + s[k]
    out["basic-wrong-password"] = b"\x01" + req("GET /v2/", ["Authorization: Basic YWRtaW46d3Jvbmc="])
    out["basic-bearer-garbage"] = b"\x01" + req("GET /v2/app/tags/list", ["Authorization: Bearer abc.def"])
    return out


def platforms():
    """a --platform value, then candidates as indexes name them (os, arch, variant by tabs)"""
    def cands(*rows):
        return "".join("\t".join(r) + "\n" for r in rows)
    docker_hub = cands(("linux", "amd64"), ("linux", "arm", "v5"), ("linux", "arm", "v7"),
                       ("linux", "arm64", "v8"), ("linux", "386"), ("linux", "mips64le"),
                       ("linux", "ppc64le"), ("linux", "riscv64"), ("linux", "s390x"),
                       ("windows", "amd64"), ("unknown", "unknown"))
    s = [
        ("amd64-hub-index", "linux/amd64\n" + docker_hub),
        ("arm64-hub-index", "linux/arm64\n" + docker_hub),
        ("arm-v6-falls-back", "linux/arm/v6\n" + cands(("linux", "arm", "v7"), ("linux", "arm", "v5"))),
        ("armhf", "linux/armhf\n" + cands(("linux", "arm", "7"), ("linux", "arm"))),
        ("aarch64-v8", "linux/aarch64/8\n" + cands(("linux", "arm64"), ("linux", "arm64", "v8.0"))),
        ("arm64-v9-to-arm", "linux/arm64/v9\n" + cands(("linux", "arm64", "v8"), ("linux", "arm", "v7"))),
        ("amd64-v3-levels", "linux/amd64/v3\n" + cands(("linux", "amd64", "v2"), ("linux", "amd64", "v1"),
                                                      ("linux", "386"), ("linux", "x86_64"))),
        ("x86_64-uppercase", "Linux/x86_64\n" + cands(("LINUX", "AMD64"), ("linux", "x86-64", "v1"))),
        ("i386", "linux/i386\n" + cands(("linux", "386"), ("linux", "i386", "v1"))),
        ("macos-darwin", "macos/arm64\n" + cands(("darwin", "arm64"), ("macos", "aarch64", "v8"))),
        ("windows", "windows/amd64\n" + cands(("windows", "amd64"), ("linux", "amd64"))),
        ("armel", "linux/armel\n" + cands(("linux", "arm", "v6"), ("linux", "arm", "v5"))),
        ("long-fields", "linux/riscv64\n" + cands(("linux" * 10, "riscv64"), ("linux", "riscv64", "v" + "9" * 30))),
        ("bad-want", "linux\n" + cands(("linux", "amd64"))),
    ]
    return {k: v.encode() for k, v in s}


def sizes():
    s = ["10GiB", "512 MiB", "1.5t", "1000000", "none", "10kB", "9999999999999999999999P", ".5"]
    return {v.replace(" ", "_").replace(".", "dot"): v.encode() for v in s}


TARGETS = {
    "fuzz-manifest": manifests,
    "fuzz-digest": digests,
    "fuzz-name": names,
    "fuzz-ref": refs,
    "fuzz-basic": basic,
    "fuzz-ranges": ranges,
    "fuzz-form": forms,
    "fuzz-dockercfg": dockercfgs,
    "fuzz-challenge": challenges,
    "fuzz-keyring": keyrings,
    "fuzz-layout": layouts,
    "fuzz-token": tokens,
    "fuzz-proxy": proxies,
    "fuzz-request": requests,
    "fuzz-platform": platforms,
    "fuzz-size": sizes,
}


def write_all(d, files):
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def merge(target, corpus, seeds, build):
    """-merge=1 of the existing corpus and the seeds; keep seed names for seeds"""
    binary = os.path.join(os.path.abspath(build), "tests", "fuzz", target)
    if not os.access(binary, os.X_OK):
        sys.exit("seeds.py: %s is not built (make fuzz in a --enable-fuzzers build)" % binary)
    names = {}
    with tempfile.TemporaryDirectory() as tmp:
        old, new, out = (os.path.join(tmp, x) for x in ("old", "new", "out"))
        os.makedirs(out)
        if os.path.isdir(corpus):
            shutil.copytree(corpus, old)
            for n in os.listdir(old):
                with open(os.path.join(old, n), "rb") as f:
                    names.setdefault(hashlib.sha1(f.read()).hexdigest(), n)
        else:
            os.makedirs(old)
        write_all(new, seeds)
        for n, data in seeds.items():
            names[hashlib.sha1(data).hexdigest()] = n
        dictf = os.path.join(HERE, "dict", target + ".dict")
        cmd = ["nice", "-n", "19", binary, "-merge=1", "-timeout=10", out, old, new]
        if os.path.exists(dictf):
            cmd.insert(4, "-dict=" + dictf)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp)
        if os.path.isdir(corpus):
            shutil.rmtree(corpus)
        os.makedirs(corpus)
        for n in sorted(os.listdir(out)):
            with open(os.path.join(out, n), "rb") as f:
                data = f.read()
            with open(os.path.join(corpus, names.get(hashlib.sha1(data).hexdigest(), n)), "wb") as f:
                f.write(data)
    return len(os.listdir(corpus))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--merge", metavar="FUZZ_BUILD_DIR")
    ap.add_argument("targets", nargs="*")
    a = ap.parse_args()
    for t in a.targets:
        if t not in TARGETS:
            sys.exit("seeds.py: unknown target %s (%s)" % (t, " ".join(TARGETS)))
    for t in a.targets or TARGETS:
        seeds = TARGETS[t]()
        d = os.path.join(a.out, t)
        if a.merge:
            n = merge(t, d, seeds, a.merge)
            print("%s: %d seeds, %d kept after -merge=1" % (t, len(seeds), n))
        else:
            write_all(d, seeds)
            print("%s: %d seeds" % (t, len(seeds)))


if __name__ == "__main__":
    main()
