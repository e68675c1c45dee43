from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from apps.core.services import roles_ensure


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def groups(self, create: bool, extracted: list[str] | None, **kwargs: Any) -> None:
        if not create or not extracted:
            return
        roles_ensure()
        for name in extracted:
            self.groups.add(Group.objects.get(name=name))
