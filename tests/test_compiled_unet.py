"""V2I_COMPILE: a compiled UNet runs on the process's device thread (CUDA graphs are recorded per thread), paints what
the eager UNet paints, and the DeepCache recipe, which rewires the UNet's blocks, gets the eager module.

The GPU's compiler cannot run here; torch.compile's ``eager`` backend gives the same wrapper (dynamo traces the
UNet, nothing is generated), which is what the thread and DeepCache logic look at."""

import threading

import numpy as np
import pytest

from core import CancelledError
from core.generation.diffusion import generate_image
from core.models.loaders import is_compiled
from core.config.recipes import GenerationOptions


@pytest.fixture(scope="module")
def pipes(tiny_models_dir):
    import torch

    from core.models.cache import load_stable_diffusion
    from core.models.tiny import tiny_model_paths

    sd = str(tiny_model_paths(tiny_models_dir).sd)
    eager, compiled = load_stable_diffusion(sd, "cpu"), load_stable_diffusion(sd, "cpu")
    compiled.unet = torch.compile(compiled.unet, backend="eager", fullgraph=True)
    assert is_compiled(compiled.unet) and not is_compiled(eager.unet)
    return eager, compiled


def image(pipe, options, **kwargs):
    return np.asarray(generate_image(pipe, "a red fox", "", options, **kwargs).image)


def test_every_compiled_run_happens_on_one_thread_whoever_calls(pipes):
    _, compiled = pipes
    options = GenerationOptions(steps=2, seed=3, width=64, height=64)
    seen: list[str] = []

    def run():
        image(compiled, options, progress=lambda step, total: seen.append(threading.current_thread().name))

    callers = [threading.Thread(target=run) for _ in range(2)]
    for caller in callers:  # one after the other, as jobs come: each caller a thread of its own
        caller.start()
        caller.join()
    run()  # and this test's own thread
    assert len(seen) == 6 and len(set(seen)) == 1 and seen[0].startswith("v2i-device")


def test_cuda_pipelines_run_on_the_device_thread_and_eager_cpu_ones_do_not(pipes):
    import torch

    from core.generation.diffusion import runs_on_device_thread

    eager, compiled = pipes
    on_cuda = type("Pipe", (), {"device": torch.device("cuda"), "unet": eager.unet})()  # eager, yet on the GPU
    assert runs_on_device_thread(on_cuda) and runs_on_device_thread(compiled)
    assert not runs_on_device_thread(eager)


def test_eager_cpu_runs_stay_on_the_callers_thread(pipes):
    eager, _ = pipes
    seen: list[str] = []
    image(eager, GenerationOptions(steps=2, seed=3, width=64, height=64),
          progress=lambda step, total: seen.append(threading.current_thread().name))
    assert seen == [threading.current_thread().name] * 2


def test_a_compiled_unet_paints_what_the_eager_one_paints_deepcache_included(pipes):
    eager, compiled = pipes
    for options in (GenerationOptions(steps=3, seed=5, width=64, height=64),
                    GenerationOptions.from_recipe("fast", steps=6, seed=5, width=64, height=64)):
        assert np.array_equal(image(compiled, options), image(eager, options))


def test_a_cancel_raised_on_the_compiled_thread_reaches_the_caller(pipes):
    _, compiled = pipes

    def cancel(step, total):
        raise CancelledError("cancelled by ana")

    with pytest.raises(CancelledError, match="cancelled by ana"):
        image(compiled, GenerationOptions(steps=3, seed=1, width=64, height=64), progress=cancel)


def test_work_sent_to_the_device_thread_from_the_device_thread_runs_there_at_once():
    from concurrent.futures import ThreadPoolExecutor

    from core.generation.diffusion import on_device_thread

    def nested():
        return on_device_thread(lambda: threading.current_thread().name)

    caller = ThreadPoolExecutor(max_workers=1)
    try:  # a timeout would mean the device thread waits on itself
        name = caller.submit(on_device_thread, nested).result(timeout=30)
    finally:
        caller.shutdown(wait=False)
    assert name.startswith("v2i-device")
