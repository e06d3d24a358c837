"""Systolic arrays (SCALE-Sim 3.0.0 semantics): config, model, SCALE-Sim .cfg reader.

Importing the package registers the ``systolic`` family and the ``.cfg`` reader.
"""

from accelsim.hw.registry import register_family, register_reader
from accelsim.hw.systolic.config import SystolicConfig
from accelsim.hw.systolic.model import SystolicModel
from accelsim.hw.systolic.scalesim_cfg import cfg_field_names, read_scalesim_cfg

register_family("systolic", SystolicConfig, SystolicModel, validation="accelsim.hw.systolic.validation")
register_reader(".cfg", read_scalesim_cfg, cfg_field_names)

__all__ = ["SystolicConfig", "SystolicModel", "read_scalesim_cfg"]
