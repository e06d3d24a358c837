"""EIE-style sparse engine (Han et al., ISCA 2016): compressed M x V on row-interleaved PEs.

Registers family ``eie``; see ``docs/models/eie.md`` for the model and ``validation.py`` for the
reproduction of the paper.
"""

from accelsim.hw.eie.config import EIEConfig
from accelsim.hw.eie.model import EIEModel
from accelsim.hw.registry import register_family

register_family("eie", EIEConfig, EIEModel, validation="accelsim.hw.eie.validation")

__all__ = ["EIEConfig", "EIEModel"]
