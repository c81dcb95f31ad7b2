"""Run alone (a fresh process has no other ``Ref`` alive): two equal refs, the first dropped."""

import gc

import reconcile as rc
from reconcile.testing import MemoryProvider


@rc.resource("eq_net")
class Net:
    name: str = rc.field(key=True)
    id: str = "net-7"


@rc.resource("eq_vm")
class Vm:
    name: str = rc.field(key=True)
    net_id: str = ""


first = rc.ref("eq_net[main]", "id")
vm = Vm("web", net_id=rc.ref("eq_net[main]", "id"))
del first
gc.collect()
reconciler = rc.Reconciler([MemoryProvider(Net), MemoryProvider(Vm)])
step = reconciler.plan([Net("main"), vm]).step("eq_vm[web]")
assert step.after is not None
print(step.depends_on, step.after["net_id"])
