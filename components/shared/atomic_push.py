"""TFX's stock Pusher, made atomic: a serving root never holds a half-copied version.

The stock executor copies the SavedModel straight into ``<base>/<version>/`` (``saved_model.pb``
last), so a process killed during the copy leaves a version folder that a model server, seeing a
``saved_model.pb`` still being written, may try to load. :class:`AtomicPushExecutor` lets the stock
executor write into a staging folder beside the versions (``<base>/.staging-<pid>/<version>/``, a
name no model server reads as a version) and then renames the finished version into place: one
``os.rename`` on the same filesystem, so the version appears whole or not at all. Staging folders
left by a killed push (their process is gone) are removed before the next push.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs as specs
from tfx.utils import proto_utils

log = logging.getLogger(__name__)
STAGING_PREFIX = ".staging-"


def remove_stale_staging(base: Path) -> list:
    """Removes ``<base>/.staging-<pid>`` folders whose process is gone; returns their names."""
    removed = []
    for path in sorted(base.glob(f"{STAGING_PREFIX}*")) if base.is_dir() else []:
        pid = path.name[len(STAGING_PREFIX):]
        if pid.isdigit() and _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class AtomicPushExecutor(pusher_executor.Executor):
    """The stock Pusher's ``Do`` into a staging folder, then one rename into the serving base."""

    def Do(self, input_dict, output_dict, exec_properties):  # noqa: N802 - TFX's name
        destination = proto_utils.json_to_proto(exec_properties[specs.PUSH_DESTINATION_KEY],
                                                pusher_pb2.PushDestination())
        base = Path(destination.filesystem.base_directory)
        base.mkdir(parents=True, exist_ok=True)
        for name in remove_stale_staging(base):
            log.info("Pusher: removed %s, left by a push that was stopped", base / name)
        staging = base / f"{STAGING_PREFIX}{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        destination.filesystem.base_directory = str(staging)
        try:
            super().Do(input_dict, output_dict, {**exec_properties,
                                                 specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
            push = artifact_utils.get_single_instance(output_dict[specs.PUSHED_MODEL_KEY])
            if push.get_int_custom_property("pushed"):
                staged = Path(push.get_string_custom_property("pushed_destination"))
                final = base / staged.name
                if final.exists():  # the stock executor's rule: a version folder is never overwritten
                    log.info("Pusher: %s already exists, skipping this push", final)
                else:
                    os.rename(staged, final)
                push.set_string_custom_property("pushed_destination", str(final))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
