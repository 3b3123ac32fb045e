"""Maps the repository's top-level source folders into the `verigym` import namespace."""

from setuptools import find_packages, setup

SOURCE_FOLDERS = ("envs", "plugins", "sandbox", "agents", "trainer")

packages = ["verigym"] + [
    f"verigym.{name}"
    for name in find_packages(".", include=[f"{folder}*" for folder in SOURCE_FOLDERS])
]

setup(packages=packages, package_data={"verigym": ["py.typed"], "verigym.sandbox": ["images/*"]})
