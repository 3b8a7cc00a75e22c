"""gpu-render info: which backend is used, and why."""
from __future__ import annotations

import json

HELP = "show the backend that 'auto' picks, the reason, the device and library versions"


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")


def run(args) -> int:
    from .. import info

    data = info()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    print(f"backend (auto): {data['auto']}")
    print(f"reason: {data['reason']}")
    for name in ("gpu", "cpu"):
        details = ", ".join(f"{k}={v}" for k, v in data[name].items())
        print(f"{name}: {details}")
    return 0
