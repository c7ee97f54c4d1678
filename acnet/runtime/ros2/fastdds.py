"""Fast DDS's transports for camera-size images: the profile ``acnet ros2`` gives its own process.

Fast DDS's default shared-memory segment is 512 KiB. A 640x480 ``rgb8``
image (900 KiB) does not fit in it, and between two processes on this
machine such images then came late and irregularly (round trip of a 640x480
RGB-D pair and its labels through two rclpy nodes: 41 ms median, 240 ms at
p90, an eighth lost) where with a 16 MiB segment it took 4.4 ms (all came).
The segment of the process that *sends* counts, so the camera driver needs
the profile as well; ``acnet ros2 --fastdds-profile`` prints its path.

Applied only where the user has not configured Fast DDS (a profiles file,
builtin transports, another RMW): theirs always wins.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Fast DDS 3's participant profile: shared memory with a 16 MiB segment, and UDPv4, as the defaults are.
PROFILE = Path(__file__).with_name("fastdds_large_images.xml")
#: Settings by which a user has configured Fast DDS's transports already.
USER_SETTINGS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_BUILTIN_TRANSPORTS")
#: The file Fast DDS loads from the working directory when it exists.
CWD_PROFILE = "DEFAULT_FASTDDS_PROFILES.xml"
FASTDDS_RMWS = ("rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def use_large_image_profile(environ=os.environ, cwd: Path | None = None) -> str:
    """Point Fast DDS at :data:`PROFILE` in ``environ`` unless the user chose otherwise; say which happened."""
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw and rmw not in FASTDDS_RMWS:
        return f"RMW_IMPLEMENTATION is {rmw}: its own transport settings apply"
    chosen = [name for name in USER_SETTINGS if environ.get(name)]
    if chosen:
        return f"Fast DDS as configured by {chosen[0]}={environ[chosen[0]]}"
    if ((cwd or Path.cwd()) / CWD_PROFILE).is_file():
        return f"Fast DDS as configured by ./{CWD_PROFILE}"
    environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
    return (f"Fast DDS with a 16 MiB shared-memory segment for camera-size images ({PROFILE}); give the camera "
            "driver the same file in FASTDDS_DEFAULT_PROFILES_FILE")
