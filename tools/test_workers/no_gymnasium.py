#!/usr/bin/env python3
"""Runs the real Gymnasium adapter as if gymnasium were not installed (for the tests)."""
import os
import runpy
import sys

sys.modules["gymnasium"] = None  # makes `import gymnasium` raise ModuleNotFoundError
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rlpc_gym_worker.py"),
               run_name="__main__")
