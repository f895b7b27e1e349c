"""Settings and the curated list: read and validate them (load.py, settings.py), and write what
a run observed back into the list (`baseline accept`, baseline.py).

Owns every TOML file ocwwatch reads or writes; errors name the file, the entry and the field.
"""

from ocwwatch.config.baseline import (
    accept_baseline,
    add_entry,
    entry_id,
    remove_entry,
    rewrite_sidecar_urls,
)
from ocwwatch.config.load import (
    CONFIG_FILES,
    DEFAULT_SETTINGS,
    is_packaged,
    load_config,
    load_resources,
    load_settings,
    parse_resources,
    read_toml,
    refuse_packaged_list,
    sidecar_path,
    write_default_config,
)
from ocwwatch.config.settings import (
    MAX_WORKERS,
    WORKERS_PER_SLOT,
    Config,
    DeepOverride,
    DeepSettings,
    HttpSettings,
    RetentionSettings,
    ScheduleSettings,
    Settings,
)

__all__ = [
    "CONFIG_FILES",
    "DEFAULT_SETTINGS",
    "MAX_WORKERS",
    "WORKERS_PER_SLOT",
    "Config",
    "DeepOverride",
    "DeepSettings",
    "HttpSettings",
    "RetentionSettings",
    "ScheduleSettings",
    "Settings",
    "accept_baseline",
    "add_entry",
    "entry_id",
    "is_packaged",
    "load_config",
    "load_resources",
    "load_settings",
    "parse_resources",
    "read_toml",
    "refuse_packaged_list",
    "remove_entry",
    "rewrite_sidecar_urls",
    "sidecar_path",
    "write_default_config",
]
