from linli.people.models import Person


def test_grid_worker_sees_only_their_grid(people, grid_worker, neighbour):
    mine = set(Person.objects.restrict(grid_worker).values_list("id", flat=True))
    theirs = set(Person.objects.restrict(neighbour).values_list("id", flat=True))
    assert mine == {people.head.id, people.child.id}
    assert theirs == {people.other_head.id, people.other_child.id}


def test_street_officer_sees_whole_street_subtree(people, street_officer, auditor):
    assert Person.objects.restrict(street_officer).count() == 2
    assert Person.objects.restrict(auditor).count() == 4
    assert Person.objects.restrict(auditor, "change").count() == 0
