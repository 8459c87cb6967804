"""What a connector spends finding deletions shows in the cycle report."""

from __future__ import annotations

from crmsync.contract import hookimpl


class ReconcilingVendor:
    """A connector whose first page also ran an id reconciliation of 3 requests."""

    def __init__(self) -> None:
        self.pages = 0

    @hookimpl(wrapper=True)
    def fetch_changed(self):
        page = yield
        self.pages += 1
        if self.pages == 1:
            return page.model_copy(update={"costs": {"reconciliation": 3}})
        return page


def test_a_pages_extra_requests_are_added_to_the_sides_api_calls(make_world):
    world = make_world()
    world.linked_pair(first_name="A")
    world.extra_plugins.append(ReconcilingVendor())
    world.clock.advance(60)

    report = world.cycle()

    assert report.api_calls["crm"]["reconciliation"] == 3
    assert "reconciliation" not in report.api_calls["platform"]
    assert report.counts()["api_calls"]["crm"]["reconciliation"] == 3
