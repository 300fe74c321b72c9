import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat.models import Conversation
from tests.helpers.clients import client_for
from tests.review.factories import conversation_with, staff_user


@pytest.fixture
def reviewer(db: None) -> User:
    return staff_user("rita", group="Reviewers")


@pytest.fixture
def reviewer_client(reviewer: User) -> Client:
    return client_for(reviewer)


@pytest.fixture
def conversation(alice: User) -> Conversation:
    return conversation_with(
        alice,
        [("What is the tax on 85000?", "The tax on **85,000** is 14,500."), ("Thanks", "Welcome")],
        revenue="85000",
    )
