"""What CLIP embeddings show about the stored images: ``embeddings`` computes and caches them, ``vectors`` is
the math on unit vectors (numpy, no database), ``similarity`` applies it to stored generations (neighbours, search,
alignment, novelty), ``image_map`` lays every image out in 2D (the Map tab; ``map_points`` in the database), and
``aggregates`` sums the history in SQL (the Overview page)."""
