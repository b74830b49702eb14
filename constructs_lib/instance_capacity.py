"""What one instance offers an inference component's copies, to refuse at synth a copy no instance can hold.

Sources, each AWS's own and readable offline:

- GPUs: the SageMaker Python SDK's ``image_uri_config/instance_gpu_info.json`` (region -> instance type ->
  ``Count``, ``TotalGpuMemoryInMiB``; the table behind ``sagemaker.core.instance_types_gpu_info.retrieve``), read
  from the installed ``sagemaker-core`` wheel where ``constructs_lib.image_catalog`` finds the image tables,
  without importing the SDK. The table is not complete: it lists 24 NVIDIA types (no ``ml.g5.xlarge``, no
  ``ml.g6``), and a type it lacks is unknown, not guessed.
- AWS Inferentia, Trainium and Gaudi devices (``ml.inf*``, ``ml.trn*``, ``ml.dl*``): no AWS table of them ships
  with botocore or sagemaker-core, so their device count is unknown.
- vCPUs: ``sagemaker_limits.vcpus`` (EC2's size rule).
- Memory: no offline AWS source states an instance type's memory (botocore's model and sagemaker-core's tables
  do not), so memory is checked only against the API's 128 MB minimum (``MemoryInMb``), not against the instance.

Every check here refuses only what can never fit: SageMaker keeps part of each instance for its own agents, so
a copy that asks for exactly the whole instance may still not be placed; that is left to SageMaker.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, cast

from constructs_lib import image_catalog, service_model
from constructs_lib.errors import ValidationError
from constructs_lib.sagemaker_limits import fail, is_gpu_instance_type, is_token, vcpus

GPU_TABLE = "instance_gpu_info.json"
#: Accelerators other than NVIDIA GPUs: AWS Inferentia (inf1, inf2), Trainium (trn1, trn1n, trn2), Habana Gaudi
#: (dl1). ``NumberOfAcceleratorDevicesRequired`` counts them too ("Accelerators include GPUs and AWS Inferentia").
_OTHER_ACCELERATOR_FAMILY = re.compile(r"^ml\.(inf|trn|dl)\d")


@functools.cache
def _gpu_table() -> dict[str, dict[str, dict[str, int]]]:
    """Region -> instance type -> ``{"Count", "TotalGpuMemoryInMiB"}``; empty without sagemaker-core.

    sagemaker-core is installed for synth (requirements-images.txt) but is no dependency of the wheel: without
    it every GPU count is unknown, and the checks that need one are skipped rather than failing the synth.
    """
    try:
        folder, _ = image_catalog.sdk_tables()
    except ValidationError:
        return {}
    path = folder / GPU_TABLE
    if not path.is_file():
        return {}
    return cast(dict[str, dict[str, dict[str, int]]], json.loads(path.read_text()))


def gpu_source() -> str:
    """Where GPU counts come from, for messages."""
    return f"sagemaker-core {image_catalog.table_version()} image_uri_config/{GPU_TABLE}"


def _gpu_entry(instance_type: str, region: str) -> dict[str, Any] | None:
    """The table's entry for ``instance_type``: the region's own, else the one every region agrees on.

    An instance type's hardware is the same in every region; the table repeats it per region (identical in
    sagemaker-core 2.27.0) and lists only some regions (not ap-east-2, for one). So a region the table lacks, or a
    token region, takes the entry the listed regions agree on, and none when they disagree.
    """
    table = _gpu_table()
    own = table.get(region, {}).get(instance_type) if not is_token(region) else None
    if own is not None:
        return own
    seen = {
        json.dumps(entries[instance_type], sort_keys=True) for entries in table.values() if instance_type in entries
    }
    return cast(dict[str, Any], json.loads(seen.pop())) if len(seen) == 1 else None


def gpus(instance_type: str, region: str) -> int | None:
    """NVIDIA GPUs of one ``instance_type`` instance; ``None`` when unknown.

    0 for a type outside the GPU families (``ml.p*``, ``ml.g*``); ``None`` for a GPU type the SDK's table lacks,
    a type SageMaker endpoints do not offer, or a token.
    """
    if is_token(instance_type):
        return None
    entry = _gpu_entry(instance_type, region)
    if entry is not None:
        return int(entry["Count"])
    if is_gpu_instance_type(instance_type) or instance_type not in service_model.endpoint_instance_types():
        return None
    return 0


def accelerator_devices(instance_type: str, region: str) -> int | None:
    """Accelerators of one instance as ``NumberOfAcceleratorDevicesRequired`` counts them; ``None`` when unknown.

    GPUs for NVIDIA types; unknown for Inferentia, Trainium and Gaudi types (no AWS table offline); 0 otherwise.
    """
    if not is_token(instance_type) and _OTHER_ACCELERATOR_FAMILY.match(instance_type):
        return None
    return gpus(instance_type, region)


def check_component_fits(
    owner: str,
    *,
    instance_type: str,
    region: str,
    cpu_cores: float | None,
    accelerators: float | None,
    field_prefix: str,
    where: str | None = None,
) -> None:
    """Raise a one-line ``ValidationError`` when one copy asks for more than one ``instance_type`` instance has.

    The fields are named ``f"{field_prefix}accelerators"`` and ``f"{field_prefix}cpu_cores"``, followed by
    ``of {where}`` when ``where`` is given (e.g. ``field_prefix="compute.", where="churn"``). Unset values,
    tokens, and capacities this module does not know pass.

    CPU cores are compared with vCPUs: whether SageMaker counts a "CPU core" as a vCPU or a physical core, an
    instance has no more of them than vCPUs, so a request above that can never be placed.
    """
    suffix = f" of {where}" if where else ""
    if accelerators is not None and not is_token(accelerators):
        have = accelerator_devices(instance_type, region)
        if have == 0:
            raise fail(
                owner,
                f"{field_prefix}accelerators{suffix}",
                accelerators,
                f"must be left unset: {instance_type} has no accelerators "
                "(not a GPU, Inferentia, Trainium or Gaudi type)",
            )
        if have is not None and accelerators > have:
            raise fail(
                owner,
                f"{field_prefix}accelerators{suffix}",
                accelerators,
                f"exceeds the {have} GPU{'s' if have != 1 else ''} of one {instance_type} ({gpu_source()}): "
                "one copy could never be placed",
            )
    if cpu_cores is not None and not is_token(cpu_cores):
        cores = vcpus(instance_type)
        if cores is not None and cpu_cores > cores:
            raise fail(
                owner,
                f"{field_prefix}cpu_cores{suffix}",
                cpu_cores,
                f"exceeds the {cores} vCPUs of one {instance_type}: one copy could never be placed",
            )
