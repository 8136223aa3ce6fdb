"""Dependency images are kept for reuse, but bounded in number: the least recently used go first."""
import pytest

import releases.builds.buildah as buildah
from releases.builds import deps_cache

pytestmark = pytest.mark.slow  # real buildah storage


@pytest.fixture
def storage(settings, tmp_path):
    settings.BUILDAH_ROOT = tmp_path / "buildah"
    yield
    for image in deps_cache.stored():
        buildah.call(["rmi", "--force", image], 60)


def make(tag: str) -> str:
    image = f"{deps_cache.REPOSITORY}:{tag}"
    work = f"gateway-test-deps-{tag}"
    assert buildah.call(["from", "--name", work, "scratch"], 60).returncode == 0
    assert buildah.call(["config", "--label", f"tag={tag}", work], 60).returncode == 0
    assert buildah.call(["commit", "--quiet", work, image], 60).returncode == 0
    buildah.call(["rm", work], 60)
    return image


def test_only_the_most_recently_used_dependency_images_are_kept(storage, settings):
    settings.BUILD_DEPENDENCY_IMAGES_KEPT = 2
    old, used_again, newest = make("old"), make("used-again"), make("newest")
    for image in (old, used_again, newest):
        deps_cache.touch(image)
    deps_cache.touch(used_again)  # a later build reused it
    assert deps_cache.prune() == [old]
    assert deps_cache.stored() == sorted([used_again, newest])
    assert deps_cache.prune() == []  # nothing more to remove


def test_an_image_nobody_recorded_goes_before_any_that_was_used(storage):
    known, stray = make("known"), make("stray")
    deps_cache.touch(known)
    assert deps_cache.prune(keep=1) == [stray] and deps_cache.stored() == [known]
