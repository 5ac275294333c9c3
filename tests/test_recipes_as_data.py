"""A recipe is data: a plain one is one entry in RECIPES, one with its own LoRA (and decoder) names them as parts,
and the pages, the command line, sweeps, the catalog and the stored row follow without another file changing."""

from core import catalog, sweep
from core.cli import build_parser
from core.models.cache import ModelCache
from core.execution.pipeline import run_generation
from core.config.recipes import RECIPES, GenerationOptions, Part, Recipe
from core.generation.request import GenerationRequest
from core.generation.synth import recording


def paint(settings, models, store, recipe: str, **overrides):
    options = GenerationOptions.from_recipe(recipe, width=64, height=64, seed=3, **overrides)
    request = GenerationRequest("a.wav", transcript="a red fox in the snow", language="en", options=options)
    return run_generation(recording("wav"), request, settings=settings, models=models, store=store)


def test_a_plain_recipe_is_one_entry(settings, models, store, monkeypatch):
    monkeypatch.setitem(RECIPES, "euler-3", Recipe("euler", 3, note="Euler, 3 steps"))
    row = paint(settings, models, store, "euler-3")
    assert (row["recipe"], row["scheduler"], row["steps"], row["lora"], row["decoder"]) == ("euler-3", "euler", 3,
                                                                                          None, "vae")
    assert sweep.parse_axis("recipe=default,euler-3").values == ("default", "euler-3")  # sweeps take it
    assert build_parser().parse_args(["submit", "a.wav", "--recipe", "euler-3"]).recipe == "euler-3"


def test_a_recipe_with_its_own_lora_names_it_as_a_part(settings, store, monkeypatch):
    # The turbo LoRA once more, under its own adapter name and keeping SD's own VAE: a second LoRA recipe. A LoRA
    # of its own would also add its V2I_ setting in core/config/settings.py: two files in all.
    monkeypatch.setitem(RECIPES, "turbo-vae", Recipe("lcm", 4, guidance=1.0, max_steps=8,
                                                     adapter=Part("lcm_lora", "lora", "LCM-LoRA (turbo-vae)", "lcm2")))
    models = ModelCache(settings, device="cpu")  # its own: the session's shared UNet keeps only its own adapter
    plain_before = paint(settings, models, store, "default", steps=2)
    row = paint(settings, models, store, "turbo-vae")
    assert (row["recipe"], row["scheduler"], row["lora"], row["decoder"]) == ("turbo-vae", "lcm", settings.lcm_lora,
                                                                            "vae")
    assert models.stable_diffusion(recipe="turbo-vae").model.unet.active_adapters() == ["lcm2"]
    listed = {m.key: m for m in catalog.models(settings, recipes=("turbo-vae",))}
    assert listed["lora"].label == "LCM-LoRA (turbo-vae)" and "decoder" not in listed
    plain_after = paint(settings, models, store, "default", steps=2)
    assert plain_after["image_sha256"] == plain_before["image_sha256"]  # the shared UNet gave its weights back
