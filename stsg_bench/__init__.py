"""stsg-bench: seamless daily soil moisture from SMAP L3 + GLDAS Noah (DrcGAN and baselines), scored
against ISMN in-situ stations. Stages live in sub-packages: ``grid`` -> ``case`` -> ``io``/``twin`` ->
``methods``/``fusion`` -> ``validation`` -> ``reports`` -> ``pipeline`` -> ``cli``."""

__version__ = "0.1.0"
