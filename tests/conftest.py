"""Shared fixtures for the framework tests."""

import pytest

from toy_env import AddEnv


@pytest.fixture
def add_env() -> AddEnv:
    return AddEnv()
