"""Package layout: the library in rewardlab/, presets in top-level envs/ and agents/.

envs/ and agents/ live at the top of the repository (easy to find and edit)
and install as ``rewardlab.envs`` and ``rewardlab.agents``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["rewardlab", "rewardlab.*"]) + ["rewardlab.envs", "rewardlab.agents"],
    package_dir={"rewardlab": "rewardlab", "rewardlab.envs": "envs", "rewardlab.agents": "agents"},
)
