"""Package discovery for a repository whose importable roots live in several folders.

DESIGN.md keeps services in ``services/`` and recipes in ``recipes/`` beside the
``nsight_lab`` package, yet they ship in one distribution. pyproject's declarative
``packages.find`` cannot map several roots at once, so the mapping is computed here.
"""

from pathlib import Path

from setuptools import find_packages, setup

#: Folders whose importable packages ship beside nsight_lab (every package in them).
ROOTS = ("services", "operator")

packages = find_packages(include=["nsight_lab", "nsight_lab.*"])
package_dir: dict[str, str] = {}
for folder in ROOTS:
    for init in sorted(Path(folder).glob("*/__init__.py")):
        name = init.parent.name
        package_dir[name] = f"{folder}/{name}"
        packages.append(name)
        packages += [f"{name}.{sub}" for sub in find_packages(f"{folder}/{name}")]
package_dir["nsight_lab_recipes"] = "recipes"
packages.append("nsight_lab_recipes")

setup(packages=packages, package_dir=package_dir)
