"""Tests of the Python bindings (`import rlpc`): compile, run, exec, load_params.

Run with the package installed (`.ci/run` builds it with maturin into its virtualenv):
    python python/tests/test_rlpc.py          # or: python -m unittest discover -s python/tests
"""

import shutil
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import numpy as np

import rlpc

ROOT = Path(__file__).resolve().parents[2]
PPO = ROOT / "examples" / "ppo_cartpole.rlp"
TINY = Path(__file__).resolve().parent / "fixtures" / "tiny.rlp"

# ppo_cartpole.rlp: `iters = 150` is the iteration count; 8 environments x 128 steps per
# rollout; two 64-64 MLPs (policy and value).
ENV_STEPS_PER_ITERATION = 8 * 128

# A program whose `log` adds a [steps, envs] tensor to a [steps, envs, obs] one.
BAD_SHAPES = """use std.env.cartpole

env    = cartpole(envs: 4)
policy = categorical(mlp(env.obs, [16], env.actions))

train iterations: 3 {
  sample batch = rollout(env, policy, steps: 8)
  log    bad   = mean(batch.reward + batch.obs)
}
"""


class Tmp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="rlpc-py-test-"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)


class CompileTests(Tmp):
    def test_compiles_a_file_with_overrides(self):
        prog = rlpc.compile(PPO, set={"iters": 3, "lr": 1e-3})
        self.assertIsInstance(prog, rlpc.Program)
        self.assertEqual(prog.iterations, 3)
        self.assertEqual(prog.metrics, ["return"])
        self.assertEqual(prog.hyperparameters["iters"], 3)
        self.assertAlmostEqual(prog.hyperparameters["lr"], 1e-3)
        self.assertEqual(prog.backend, "jit")
        self.assertEqual(prog.file, PPO)
        # 4-dim observations -> 64 -> 64 -> 2 actions (policy) and 1 value.
        shapes = {shape for shape, _ in prog.params.values()}
        self.assertIn((4, 64), shapes)
        self.assertIn((64, 2), shapes)
        self.assertIn((64, 1), shapes)
        self.assertTrue(all(dtype == "f32" for _, dtype in prog.params.values()))
        self.assertIn("3 iterations", prog.summary())
        self.assertIn("ppo_cartpole.rlp", repr(prog))
        self.assertGreater(prog.compile_ms["total"], 0.0)

    def test_a_str_path_and_source_text(self):
        by_path = rlpc.compile(str(PPO), set={"iters": 2})
        by_text = rlpc.compile(PPO.read_text(), set={"iters": 2})
        self.assertEqual(by_path.params, by_text.params)
        self.assertIsNone(by_text.file)

    def test_a_shape_error_raises_compile_error_with_the_diagnostic(self):
        with self.assertRaises(rlpc.CompileError) as cm:
            rlpc.compile(BAD_SHAPES)
        msg = str(cm.exception)
        # The rendered miette diagnostic: the offending source line and a label under it.
        self.assertIn("batch.reward + batch.obs", msg)
        self.assertIn("<string>", msg)
        self.assertIn("[8, 4]", msg)
        self.assertTrue(cm.exception.codes)
        self.assertTrue(all(isinstance(c, str) for c in cm.exception.codes))
        self.assertIsInstance(cm.exception, rlpc.RlpcError)

    def test_an_error_in_a_file_names_the_file(self):
        bad = self.tmp / "bad.rlp"
        bad.write_text(BAD_SHAPES)
        with self.assertRaises(rlpc.CompileError) as cm:
            rlpc.compile(bad)
        self.assertIn("bad.rlp", str(cm.exception))
        self.assertIn("batch.reward + batch.obs", str(cm.exception))

    def test_a_bad_override_is_a_compile_error(self):
        with self.assertRaises(rlpc.CompileError) as cm:
            rlpc.compile(PPO, set={"iters": "many"})
        self.assertIn("iters", str(cm.exception))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            rlpc.compile(PPO, backend="tpu")
        with self.assertRaises(TypeError):
            rlpc.compile(PPO, set={"lr": object()})
        with self.assertRaises(rlpc.CompileError):
            rlpc.compile(self.tmp / "missing.rlp")


class RunTests(Tmp):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.calls = []
        cls.out = cls.tmp / "ppo"
        cls.summary = rlpc.run(
            PPO,
            out=cls.out,
            set={"iters": 3},
            callback=lambda it, m: cls.calls.append((it, dict(m))),
        )

    def test_the_callback_sees_every_iteration_with_its_metrics(self):
        self.assertEqual([it for it, _ in self.calls], [0, 1, 2])
        for _, metrics in self.calls:
            self.assertEqual(set(metrics), {"return"})
            self.assertIsInstance(metrics["return"], float)
        # CartPole pays 1 per step, so an ended episode's return is at least 1.
        last = self.calls[-1][1]["return"]
        self.assertTrue(np.isnan(last) or last >= 1.0, last)

    def test_the_summary(self):
        s = self.summary
        self.assertEqual(s["iterations"], 3)
        self.assertTrue(s["finished"])
        self.assertEqual(s["env_steps"], 3 * ENV_STEPS_PER_ITERATION)
        self.assertGreater(s["wall_s"], 0.0)
        self.assertEqual(Path(s["run_dir"]), self.out)
        last = self.calls[-1][1]["return"]
        got = s["metrics"]["return"]
        self.assertTrue(got == last or (np.isnan(got) and np.isnan(last)))

    def test_the_run_directory(self):
        for name in ["program.rlp", "settings.json", "metrics.csv", "params.npz"]:
            self.assertTrue((self.out / name).is_file(), name)
        rows = (self.out / "metrics.csv").read_text().strip().splitlines()
        self.assertEqual(len(rows), 1 + 3)
        self.assertTrue(rows[0].startswith("iteration,env_steps,wall_s"))

    def test_load_params_matches_the_program_and_params_npz(self):
        params = rlpc.load_params(self.out)
        want = rlpc.compile(PPO, set={"iters": 3}).params
        self.assertEqual(set(params), set(want))
        for name, (shape, _) in want.items():
            self.assertEqual(params[name].shape, shape, name)
            self.assertEqual(params[name].dtype, np.float32, name)
            self.assertTrue(np.all(np.isfinite(params[name])), name)
            self.assertEqual(type(params[name].base).__name__, "PySliceContainer")
        with np.load(self.out / "params.npz") as npz:
            for name in want:
                np.testing.assert_array_equal(params[name], npz[name])
        # The final checkpoint holds the same parameters, among the rest of the state.
        latest = rlpc.load_params(self.out, checkpoint="latest")
        self.assertEqual(set(latest), set(want))
        for name in want:
            np.testing.assert_array_equal(latest[name], params[name])
        self.assertEqual(set(rlpc.load_params(self.out, checkpoint=3)), set(want))
        with self.assertRaises(rlpc.RlpcError):
            rlpc.load_params(self.out, checkpoint=2)
        with self.assertRaises(rlpc.RlpcError):
            rlpc.load_params(self.tmp / "not-a-run")

    def test_parameters_are_trained(self):
        # The same program and seed, without training: initial parameters differ.
        fresh = self.tmp / "fresh"
        rlpc.run(PPO, out=fresh, set={"iters": 1}, iterations=1)
        after_one = rlpc.load_params(fresh)
        after_three = rlpc.load_params(self.out)
        changed = [n for n in after_one if not np.array_equal(after_one[n], after_three[n])]
        self.assertTrue(changed)

    def test_returning_false_stops_early(self):
        out = self.tmp / "early"
        seen = []

        def stop_at_one(it, metrics):
            seen.append(it)
            return it < 1

        s = rlpc.run(PPO, out=out, set={"iters": 5}, callback=stop_at_one)
        self.assertEqual(seen, [0, 1])
        self.assertEqual(s["iterations"], 2)
        self.assertFalse(s["finished"])
        self.assertEqual(s["env_steps"], 2 * ENV_STEPS_PER_ITERATION)
        rows = (out / "metrics.csv").read_text().strip().splitlines()
        self.assertEqual(len(rows), 1 + 2)
        # Stopped cleanly: a checkpoint after iteration 2 and the parameters so far.
        self.assertTrue((out / "checkpoints" / "ckpt-2.npz").is_file())
        params = rlpc.load_params(out)
        latest = rlpc.load_params(out, checkpoint="latest")
        for name in params:
            np.testing.assert_array_equal(params[name], latest[name])

    def test_iterations_limits_the_run(self):
        s = rlpc.compile(PPO, set={"iters": 5}).run(
            out=self.tmp / "limited", iterations=2
        )
        self.assertEqual(s["iterations"], 2)
        self.assertFalse(s["finished"])
        with self.assertRaises(ValueError):
            rlpc.run(PPO, out=self.tmp / "zero", set={"iters": 5}, iterations=0)

    def test_an_exception_in_the_callback_is_raised(self):
        def boom(it, metrics):
            raise KeyError("from the callback")

        with self.assertRaises(KeyError) as cm:
            rlpc.run(PPO, out=self.tmp / "boom", set={"iters": 3}, callback=boom)
        self.assertIn("from the callback", str(cm.exception))

    def test_source_programs_need_a_run_directory(self):
        prog = rlpc.compile(PPO.read_text(), set={"iters": 1})
        with self.assertRaises(ValueError):
            prog.run()
        s = prog.run(out=self.tmp / "from-source")
        self.assertEqual(s["iterations"], 1)
        self.assertEqual(
            (self.tmp / "from-source" / "program.rlp").read_text(), PPO.read_text()
        )

    def test_training_releases_the_gil(self):
        # While a run without a callback trains on another thread, this one keeps running
        # Python: the run holds the GIL only at the end of each iteration.
        prog = rlpc.compile(PPO, set={"iters": 4})
        done = []
        t = threading.Thread(
            target=lambda: done.append(prog.run(out=self.tmp / "threaded"))
        )
        spins = 0
        t.start()
        start = time.perf_counter()
        while t.is_alive():
            spins += 1
        elapsed = time.perf_counter() - start
        t.join()
        self.assertEqual(done[0]["iterations"], 4)
        # A loop that had the GIL only between 4 iterations would count to a handful.
        self.assertGreater(spins, 10_000, f"{spins} spins in {elapsed:.2f} s")


class ExecTests(unittest.TestCase):
    def test_one_result(self):
        t, n = 3, 2
        r = np.arange(t * n, dtype=np.float32).reshape(t, n)
        v = (0.5 * np.arange((t + 1) * n, dtype=np.float32)).reshape(t + 1, n)
        term = np.array([[0, 0], [1, 0], [0, 1]], dtype=bool)
        got = rlpc.exec(TINY, "td_residual", r=r, v=v, terminated=term, gamma=0.5)
        want = r + 0.5 * np.where(term, 0.0, v[1:]) - v[:-1]
        self.assertIsInstance(got, np.ndarray)
        self.assertEqual(got.dtype, np.float32)
        self.assertEqual(got.shape, (t, n))
        np.testing.assert_allclose(got, want, rtol=1e-6)
        # The tensor's buffer itself, handed over from Rust (no copy): the array's base is
        # the container that frees it, and the array is writable.
        self.assertEqual(type(got.base).__name__, "PySliceContainer")
        self.assertTrue(got.flags.writeable)
        got[0, 0] = 42.0
        # The default gamma (0.99), a non-contiguous input, and the interpreter.
        r_t = np.ascontiguousarray(r.T).T
        self.assertFalse(r_t.flags.c_contiguous)
        got = rlpc.exec(TINY, "td_residual", r=r_t, v=v, terminated=term, backend="interp")
        np.testing.assert_allclose(
            got, r + 0.99 * np.where(term, 0.0, v[1:]) - v[:-1], rtol=1e-6
        )

    def test_a_record_is_a_dict_and_a_tuple_a_tuple(self):
        x = np.array([[1.0, 5.0, -2.0], [0.5, 0.25, 3.0]], dtype=np.float64)
        stats = rlpc.exec(TINY, "row_stats", x=x)
        self.assertEqual(set(stats), {"total", "largest"})
        np.testing.assert_allclose(stats["total"], [4.0, 3.75])
        np.testing.assert_allclose(stats["largest"], [5.0, 3.0])
        self.assertEqual(stats["total"].dtype, np.float64)
        scaled, shifted = rlpc.exec(TINY, "scale_shift", x=x, k=3)
        np.testing.assert_allclose(scaled, 3 * x)
        np.testing.assert_allclose(shifted, x + 3)
        # Integer arrays of other widths come in as int32.
        ints = np.array([1, 2, 3], dtype=np.int64)
        scaled, shifted = rlpc.exec(TINY, "scale_shift", x=ints)
        self.assertEqual(scaled.dtype, np.int32)
        np.testing.assert_array_equal(scaled, [2, 4, 6])
        np.testing.assert_array_equal(shifted, [3, 4, 5])

    def test_errors(self):
        r = np.zeros((3, 2), np.float32)
        with self.assertRaises(rlpc.RlpcError) as cm:
            rlpc.exec(TINY, "td_residual", r=r)
        self.assertIn("needs the argument `v`", str(cm.exception))
        with self.assertRaises(rlpc.RlpcError) as cm:
            rlpc.exec(TINY, "no_such_function")
        self.assertIn("td_residual", str(cm.exception))
        # v must have one more row than r: the checker's diagnostic, with the declaration,
        # raised as a CompileError with its code.
        with self.assertRaises(rlpc.CompileError) as cm:
            rlpc.exec(
                TINY, "td_residual", r=r, v=np.zeros((3, 2), np.float32),
                terminated=np.zeros((3, 2), bool),
            )
        self.assertIn("T + 1", str(cm.exception))
        self.assertTrue(cm.exception.codes, "the diagnostic codes are attached")
        self.assertNotIn("\x1b[", str(cm.exception))
        with self.assertRaises(TypeError):
            rlpc.exec(TINY, "td_residual", r=np.zeros(3, np.complex64))


if __name__ == "__main__":
    # unittest's own report, then one plain closing line (`python: N passed, N failed`)
    # for CI logs; the exit status is 1 on any failure or error.
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"python: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
