"""Every `python -m zoo.<verb>` starts clean, yet a broken TensorFlow still says why."""

from __future__ import annotations

import pytest

# Command lines whose flags pass the checks, so that each verb goes on to load TensorFlow.
VALID = {
    "zoo.train": ["--dataset=synthetic", "--train_steps=1", "--export_dir="],
    "zoo.evaluate": ["--model_dir=."],
    "zoo.generate": ["--model_dir=."],
    "zoo.export": ["--model_dir=.", "--export_dir=out"],
    "zoo.serve": ["--model_base_path=nowhere", "--port=0"],
}


@pytest.mark.parametrize("module", list(VALID))
def test_a_failing_tensorflow_import_is_shown(run_module, tmp_path, module):
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import sys\n"
        "sys.stderr.write('E0000 loader.cc:1] dlopen failed: libcudart.so.12\\n')\n"
        "raise ImportError('libtensorflow_framework.so.2: cannot open shared object file')\n"
    )
    result = run_module(module, *VALID[module], cwd=tmp_path,
                        env={"PYTHONPATH": str(fake.parent)})
    assert result.returncode == 1, result.stderr
    assert "cannot start TensorFlow" in result.stderr
    assert "libtensorflow_framework.so.2" in result.stderr
    assert "dlopen failed" in result.stderr  # what TensorFlow itself wrote is kept on failure
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", ["zoo.generate", "zoo.export", "zoo.evaluate"])
def test_no_tensorflow_startup_line_reaches_the_user(run_module, tmp_path, module):
    # TensorFlow loads (the flags are fine), then the empty folder is refused in one line.
    result = run_module(module, *VALID[module], cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for noise in ("I0000", "W0000", "E0000", "absl::InitializeLog", "cuInit", "oneDNN"):
        assert noise not in result.stderr, result.stderr


@pytest.mark.parametrize("line,noise", [
    ("I0000 00:00:1796125981.417807   12729 cpu_feature_guard.cc:210] This binary", True),
    ("W0000 00:00:1796125981.4   12729 op_kernel.cc:1858] OP_REQUIRES failed", True),
    ("To enable the following instructions: AVX2 AVX512F AVX512_BF16 FMA, in other operations, "
     "rebuild TensorFlow with the appropriate compiler flags.", True),
    ("E0000 00:00:17961.2 12729 cuda_executor.cc:1] failed call to cuInit: INTERNAL: CUDA", True),
    # the zoo's own absl lines (Python files) and real C++ errors stay
    ("I1201 11:58:02.110428 140618565319552 models.py:525] Loading servable version", False),
    ("W1201 11:58:02.110428 140618565319552 models.py:560] Failed to load servable", False),
    ("E0000 00:00:17961.2 12729 status.cc:1] INVALID_ARGUMENT: bad", False),
])
def test_only_tensorflows_own_notices_are_dropped(line, noise):
    from zoo.startup import is_noise

    assert is_noise(line) is noise
