"""Typed environment, read on first use (never at import time), with one clear error per bad variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from order_creator.deadlines import batch_minimum_seconds, cart_worst_case_seconds
from order_creator.errors import ConfigurationError

_Level = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_LogLevel = Annotated[_Level, BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value)]
_BlankIsUnset = Annotated[str | None, BeforeValidator(lambda value: None if value == "" else value)]


class TableSettings(BaseModel):
    """What every handler needs (§1), and all the audit handler (§8) needs; the aliases are the variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    table_name: str = Field(alias="DYNAMODB_TABLE_NAME", min_length=3, max_length=255)
    order_number_timezone: str = Field(default="UTC", alias="ORDER_NUMBER_TIMEZONE")
    log_level: _LogLevel = Field(default="INFO", alias="LOG_LEVEL")

    @field_validator("order_number_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The zone whose calendar day the order number uses."""
        return ZoneInfo(self.order_number_timezone)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Validate `environ` (default: the process environment); raise ConfigurationError naming each bad variable."""
        source = os.environ if environ is None else environ
        names = (field.alias for field in cls.model_fields.values() if field.alias)
        return cls._validated(tuple((name, source[name]) for name in names if name in source))

    @classmethod
    @lru_cache(maxsize=16)
    def _validated(cls, variables: tuple[tuple[str, str], ...]) -> Self:
        """The settings of these variables, validated once for every invocation that reads the same ones."""
        try:
            return cls.model_validate(dict(variables))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in errors)
            raise ConfigurationError(f"invalid environment: {problems}") from None


class Settings(TableSettings):
    """The orders handler's environment (§1), validated."""

    cart_api_url: AnyHttpUrl = Field(alias="CART_LAMBDA_API_URL")
    dead_letter_queue_url: _BlankIsUnset = Field(default=None, alias="DEAD_LETTER_QUEUE_URL")
    cart_api_timeout_seconds: float = Field(default=3.0, alias="CART_API_TIMEOUT_SECONDS", gt=0, le=60)
    cart_api_max_retries: int = Field(default=2, alias="CART_API_MAX_RETRIES", ge=0, le=10)
    cart_api_auth: Literal["none", "iam"] = Field(default="none", alias="CART_API_AUTH")

    @property
    def cart_api_base(self) -> str:
        """The Cart API base URL without a trailing slash."""
        return str(self.cart_api_url).rstrip("/")

    @property
    def cart_worst_case_seconds(self) -> float:
        """The longest one cart fetch may take (`deadlines.cart_worst_case_seconds`)."""
        return cart_worst_case_seconds(self.cart_api_timeout_seconds, self.cart_api_max_retries)

    @property
    def batch_minimum_seconds(self) -> float:
        """The least time a batch is started with (`deadlines.batch_minimum_seconds`)."""
        return batch_minimum_seconds(self.cart_worst_case_seconds)
