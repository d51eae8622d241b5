#!/usr/bin/env python3
"""Write a test container image as an OCI image layout (python3 standard library only).

    mkimage.py DIR [--tag latest] [--layers 3] [--layer-size 1M] [--seed S]
               [--base-seed B] [--platforms linux/amd64,linux/arm64] [--gzip]

Layers are tar archives holding one file of deterministic pseudo-random bytes, so the
same arguments always give the same digests. The first layer is the "base": it is
generated from --base-seed when given (else from --seed), so two images made with the
same --base-seed and different --seed share exactly that layer. With --platforms the
tag names an image index with one manifest per platform. DIR may already hold a layout:
the tag is added (or replaced). Prints the digest of the tagged manifest or index.

Load it into a registry with:  skopeo copy [--all] oci:DIR:TAG docker://HOST/REPO:TAG
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import re
import sys
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
CREATED = "2024-01-01T00:00:00Z"
MAX_LAYER_SIZE = 4 << 30


def parse_size(text):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)(i?[bB])?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError("bad size %r (e.g. 4096, 512K, 16M, 1G)" % text)
    n = int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]
    if n > MAX_LAYER_SIZE:
        raise argparse.ArgumentTypeError("size %r over %d bytes" % (text, MAX_LAYER_SIZE))
    return n


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    def __init__(self, root):
        self.root = root
        self.blobs = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blobs, exist_ok=True)

    def put(self, data):
        """Stores a blob; returns (digest, size)."""
        hexd = hashlib.sha256(data).hexdigest()
        path = os.path.join(self.blobs, hexd)
        if not os.path.exists(path):
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        return "sha256:" + hexd, len(data)

    def tag(self, descriptor, tag):
        with open(os.path.join(self.root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        index_path = os.path.join(self.root, "index.json")
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        if os.path.exists(index_path):
            with open(index_path) as f:
                index = json.load(f)
        index["manifests"] = [m for m in index.get("manifests", [])
                              if m.get("annotations", {}).get(REF_NAME) != tag]
        entry = dict(descriptor)
        entry["annotations"] = {REF_NAME: tag}
        index["manifests"].append(entry)
        tmp = index_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(index, f, indent=2)
        os.replace(tmp, index_path)


def layer_tar(name, payload):
    """A deterministic tar archive holding one file: fixed owner, mode and times."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        d = tarfile.TarInfo("data")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 0
        tar.addfile(d)
        info = tarfile.TarInfo("data/" + name)
        info.size, info.mode, info.mtime = len(payload), 0o644, 0
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def make_image(layout, args, platform):
    os_name, arch = platform.split("/")[:2]
    variant = platform.split("/")[2] if platform.count("/") == 2 else None
    tag_seed = "%s/%s" % (args.seed, platform)
    base_seed = "%s/%s" % (args.base_seed if args.base_seed is not None else args.seed, platform)
    layers, diff_ids, history = [], [], []
    for i in range(args.layers):
        seed = base_seed if i == 0 else tag_seed
        name = "base.bin" if i == 0 else "layer%d.bin" % i
        payload = random.Random("%s#%d" % (seed, i)).randbytes(args.layer_size)
        tar = layer_tar(name, payload)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        if args.gzip:
            tar = gzip.compress(tar, compresslevel=1, mtime=0)
        digest, size = layout.put(tar)
        layers.append({"mediaType": OCI_LAYER_GZIP if args.gzip else OCI_LAYER,
                       "digest": digest, "size": size})
        history.append({"created": CREATED, "created_by": "mkimage.py layer %d seed %s" % (i, seed)})
    config = {
        "created": CREATED,
        "architecture": arch,
        "os": os_name,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/data/base.bin"],
                   "Labels": {"org.berth.test.seed": str(args.seed)}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    if variant:
        config["variant"] = variant
    cdigest, csize = layout.put(canonical(config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cdigest, "size": csize},
        "layers": layers,
    }
    mdigest, msize = layout.put(canonical(manifest))
    desc = {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": msize}
    plat = {"architecture": arch, "os": os_name}
    if variant:
        plat["variant"] = variant
    return desc, plat


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="OCI layout directory (created if missing)")
    p.add_argument("--tag", default="latest")
    p.add_argument("--layers", type=int, default=3, help="number of layers (>= 1)")
    p.add_argument("--layer-size", type=parse_size, default=parse_size("1M"),
                   help="bytes of content per layer (suffix K, M or G)")
    p.add_argument("--seed", default="1", help="content seed of the image")
    p.add_argument("--base-seed", default=None, help="content seed of the first layer")
    p.add_argument("--platforms", default=None,
                   help="comma-separated os/arch[/variant]: write an image index")
    p.add_argument("--gzip", action="store_true", help="gzip the layers")
    args = p.parse_args()
    if not 1 <= args.layers <= 128:
        p.error("--layers must be within 1..128")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", args.tag):
        p.error("bad tag %r" % args.tag)
    platforms = args.platforms.split(",") if args.platforms else ["linux/amd64"]
    for pl in platforms:
        if not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", pl):
            p.error("bad platform %r (os/arch[/variant])" % pl)

    layout = Layout(args.dir)
    if args.platforms:
        manifests = []
        for pl in platforms:
            desc, plat = make_image(layout, args, pl)
            desc["platform"] = plat
            manifests.append(desc)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        digest, size = layout.put(canonical(index))
        top = {"mediaType": OCI_INDEX, "digest": digest, "size": size}
    else:
        top, _ = make_image(layout, args, platforms[0])
    layout.tag(top, args.tag)
    print(top["digest"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
