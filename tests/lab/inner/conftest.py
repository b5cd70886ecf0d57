"""The in-namespace lab suite: collected only inside ``fakegc lab --no-cluster``.

tests/lab/test_in_namespace.py runs this directory as
``fakegc lab --no-cluster -- pytest --fakegc-lab tests/lab/inner``: a private network
namespace where ports 135/88/53 are free and resolv.conf names the lab DNS, so the
plugin's lab cluster serves and clients dial names without any patch.
"""

from __future__ import annotations

import os

if os.environ.get("FAKEGC_LAB_SUITE") != "1":
    collect_ignore_glob = ["test_*.py"]
