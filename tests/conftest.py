import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
