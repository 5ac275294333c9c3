"""A sweep's contact sheet: one PNG with its cells' images in a grid, rows labelled with the first axis's values,
columns with the second's, one block per value of a third; the grid (axes, each cell's values and generation id)
rides in the PNG's ``parameters`` text chunk, so the sheet says what it shows."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from ..history.store import Store
from .sweep import Axis, Cell, axes_of, grid

THUMB = 192
GAP = 8
LABEL_WIDTH = 170
HEADER = 30
BACKGROUND, INK, MISSING = (255, 255, 255), (20, 20, 20), (225, 225, 225)


@dataclass(frozen=True)
class Layout:
    """Where each cell goes: blocks (a third axis's values, else one), rows and columns, with their labels."""

    blocks: list[str]
    rows: list[str]
    columns: list[str]
    places: list[tuple[int, int, int]]  # (block, row, column) of each cell, in grid order

    def to_json(self, run: dict[str, Any], cells: list[Cell]) -> dict[str, Any]:
        return {"run": run["id"], "axes": [a.to_json() for a in axes_of(run)], "blocks": self.blocks,
                "rows": self.rows, "columns": self.columns,
                "cells": [{"block": b, "row": r, "column": c, "values": cell.values, "label": cell.label,
                           "generation_id": cell.generation["id"] if cell.generation else None}
                          for (b, r, c), cell in zip(self.places, cells)]}


def layout(axes: tuple[Axis, ...]) -> Layout:
    """One axis: a single row. Two: rows x columns. Three: a block of rows x columns per value of the third."""
    labels = [[a.label(v) for v in a.values] for a in axes]
    rows = labels[0] if len(axes) > 1 else [""]
    columns = labels[1] if len(axes) > 1 else labels[0]
    blocks = labels[2] if len(axes) > 2 else [""]
    # The order of core.judging.sweep.cells: the first axis slowest, the last fastest.
    places = [(k, i, j) for i in range(len(rows)) for j in range(len(columns)) for k in range(len(blocks))]
    return Layout(blocks, rows, columns, places)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType: its fixed bitmap font
        return ImageFont.load_default()


def _thumbnail(store: Store, cell: Cell) -> Image.Image:
    tile = Image.new("RGB", (THUMB, THUMB), MISSING)
    if cell.generation is not None:
        try:
            with Image.open(store.file_path(cell.generation["image_path"])) as image:
                picture = image.convert("RGB")
            picture.thumbnail((THUMB, THUMB))
            tile.paste(picture, ((THUMB - picture.width) // 2, (THUMB - picture.height) // 2))
            return tile
        except OSError:
            pass
    ImageDraw.Draw(tile).text((THUMB // 2, THUMB // 2), "not painted", fill=INK, font=_font(14), anchor="mm")
    return tile


def contact_sheet(store: Store, run: dict[str, Any]) -> bytes:
    """The sheet of ``run`` (from :func:`core.judging.sweep.run_of`) as PNG bytes, its grid in the ``parameters`` chunk."""
    cells, plan = grid(run), layout(axes_of(run))
    cell_w, cell_h = THUMB + GAP, THUMB + GAP
    block_h = HEADER + len(plan.rows) * cell_h
    titled = HEADER if plan.blocks != [""] else 0
    sheet = Image.new("RGB", (LABEL_WIDTH + len(plan.columns) * cell_w + GAP,
                              len(plan.blocks) * (block_h + titled) + GAP), BACKGROUND)
    draw, font, bold = ImageDraw.Draw(sheet), _font(14), _font(16)
    for k, block in enumerate(plan.blocks):
        top = k * (block_h + titled)
        if titled:
            draw.text((GAP, top + HEADER // 2), block, fill=INK, font=bold, anchor="lm")
        for j, column in enumerate(plan.columns):
            draw.text((LABEL_WIDTH + j * cell_w + THUMB // 2, top + titled + HEADER // 2), column, fill=INK,
                      font=font, anchor="mm")
        for i, row in enumerate(plan.rows):
            draw.text((GAP, top + titled + HEADER + i * cell_h + THUMB // 2), row, fill=INK, font=font, anchor="lm")
    for (k, i, j), cell in zip(plan.places, cells):
        top = k * (block_h + titled) + titled + HEADER + i * cell_h
        sheet.paste(_thumbnail(store, cell), (LABEL_WIDTH + j * cell_w, top))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", json.dumps(plan.to_json(run, cells)))
    out = io.BytesIO()
    sheet.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def grid_of_sheet(data: bytes) -> dict[str, Any]:
    """The grid a contact sheet carries (what :func:`contact_sheet` wrote into its ``parameters`` chunk)."""
    with Image.open(io.BytesIO(data)) as image:
        return json.loads(image.text["parameters"])


def wipe(left_path, right_path, position: float) -> Image.Image:
    """Two images as one, split at ``position`` (0 to 100, percent of the width from the left): the left image
    left of the split, the right image right of it, and a thin line between (the right one is resized to the
    left's size if they differ)."""
    if not 0 <= position <= 100:
        raise ValueError(f"the split is a percentage from 0 to 100, not {position!r}")
    with Image.open(left_path) as a, Image.open(right_path) as b:
        left, right = a.convert("RGB"), b.convert("RGB").resize(a.size)
    split = round(left.width * position / 100)
    out = right.copy()
    out.paste(left.crop((0, 0, split, left.height)), (0, 0))
    if 0 < split < left.width:
        ImageDraw.Draw(out).line([(split, 0), (split, left.height)], fill=BACKGROUND, width=max(1, left.width // 256))
    return out
