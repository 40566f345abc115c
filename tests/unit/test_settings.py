"""The typed environment: defaults, and one clear error naming each bad variable."""

from __future__ import annotations

import pytest

from order_creator.errors import ConfigurationError
from order_creator.settings import Settings

REQUIRED = {"DYNAMODB_TABLE_NAME": "orders", "CART_LAMBDA_API_URL": "https://api-dev.example.io/v1.0/"}


def test_defaults_follow_the_contract():
    settings = Settings.from_env(REQUIRED)

    assert settings.order_number_timezone == "UTC"
    assert settings.cart_api_timeout_seconds == 3
    assert settings.cart_api_max_retries == 2
    assert settings.cart_api_auth == "none"
    assert settings.dead_letter_queue_url is None
    assert settings.cart_api_base == "https://api-dev.example.io/v1.0"
    # 3 attempts of 3 s, and urllib3's back-off between them: nothing after the first failure, 0.2 s + 0.1 s jitter
    # after the second
    assert settings.cart_worst_case_seconds == 9.3
    assert settings.batch_minimum_seconds == 10.3


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"DYNAMODB_TABLE_NAME": None}, "DYNAMODB_TABLE_NAME"),
        ({"CART_LAMBDA_API_URL": "not a url"}, "CART_LAMBDA_API_URL"),
        ({"ORDER_NUMBER_TIMEZONE": "Mars/Olympus"}, "ORDER_NUMBER_TIMEZONE"),
        ({"CART_API_TIMEOUT_SECONDS": "-1"}, "CART_API_TIMEOUT_SECONDS"),
        ({"CART_API_MAX_RETRIES": "many"}, "CART_API_MAX_RETRIES"),
        ({"CART_API_AUTH": "basic"}, "CART_API_AUTH"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_a_bad_variable_is_named_in_the_error(override, variable):
    environ = {**REQUIRED, **override}
    environ = {k: v for k, v in environ.items() if v is not None}

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env(environ)

    assert variable in str(raised.value)


def test_an_empty_dead_letter_queue_url_means_none():
    assert Settings.from_env({**REQUIRED, "DEAD_LETTER_QUEUE_URL": ""}).dead_letter_queue_url is None
