"""Drives the simulator with Microsoft's Power Platform SDK (`powerplatform-management`, module
`mspp_management`), unchanged except for its base URL.

Usage: python sdk_lifecycle.py BASE_URL TOKEN

Walks the environment lifecycle: list and get, provision a sandbox and poll its operation, page
through the list, back it up, copy into another sandbox, restore, reset, convert, delete, read
tenant capacity before and after, install an application package and poll it. Virtual time is moved through the simulator's
control plane (`POST /_sim/clock/advance`), never by sleeping. Exits non-zero on the first
mismatch.
"""

import asyncio
import json
import sys
import urllib.request
import uuid

from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.api_error import APIError
from kiota_http.httpx_request_adapter import HttpxRequestAdapter
from mspp_management.service_client_base import ServiceClientBase
from mspp_management.models.copy_request import CopyRequest
from mspp_management.models.copy_type import CopyType
from mspp_management.models.create_backup_request import CreateBackupRequest
from mspp_management.models.create_environment_request import CreateEnvironmentRequest
from mspp_management.models.create_environment_request_linked_metadata import (
    CreateEnvironmentRequestLinkedMetadata,
)
from mspp_management.models.environment_sku import EnvironmentSku
from mspp_management.models.modify_environment_sku_request import ModifyEnvironmentSkuRequest
from mspp_management.models.reset_request import ResetRequest
from mspp_management.models.restore_request import RestoreRequest
from mspp_management.models.tps_install_request_payload import TpsInstallRequestPayload

API = "2022-03-01-preview"


class FixedToken(AccessTokenProvider):
    """Hands the simulator's bearer token to every request."""

    def __init__(self, token):
        self.token = token

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        return self.token

    def get_allowed_hosts_validator(self):
        return AllowedHostsValidator([])


def cfg(builder, method="get"):
    """A RequestConfiguration carrying api-version for `builder`'s `method`."""
    suffix = f"{method.capitalize()}QueryParameters"
    cls = next(getattr(builder, n) for n in dir(builder) if n.endswith(suffix))
    return RequestConfiguration(query_parameters=cls(api_version=API))


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


class Sim:
    def __init__(self, base):
        self.base = base

    def advance(self, by):
        request = urllib.request.Request(
            f"{self.base}/_sim/clock/advance",
            data=json.dumps({"by": by}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 200


async def main(base, token):
    adapter = HttpxRequestAdapter(BaseBearerTokenAuthenticationProvider(FixedToken(token)))
    adapter.base_url = base
    client = ServiceClientBase(adapter)
    sim = Sim(base)
    em = client.environmentmanagement

    async def capacity():
        b = client.licensing.tenant_capacity
        model = await b.get(cfg(b))
        database = next(c for c in model.tenant_capacities if c.capacity_type.value == "Database")
        return database.consumption.actual

    async def operation(op_id):
        b = em.operations.by_operation_id(str(op_id))
        return await b.get(cfg(b))

    async def wait(op_id, by="6h"):
        sim.advance(by)
        result = await operation(op_id)
        check(result.status.value == "Succeeded", f"operation {result.name} succeeded")
        return result

    async def last_operation(env_id):
        b = em.environments.by_environment_id(env_id).operations
        page = await b.get(cfg(b))
        return page.collection[0].operation_id

    # list and get
    b = em.environments
    listed = await b.get(cfg(b))
    check(any(e.type == "Default" for e in listed.value), "the default environment is listed")
    default = next(e for e in listed.value if e.type == "Default")
    b = em.environments.by_environment_id(default.id)
    got = await b.get(cfg(b))
    check(got.id == default.id and got.display_name, "get returns the environment")
    used_before = await capacity()

    # provision two sandboxes and poll to the end
    async def provision(name):
        body = CreateEnvironmentRequest(
            display_name=name,
            environment_sku=EnvironmentSku.Sandbox,
            location="unitedstates",
            linked_environment_metadata=CreateEnvironmentRequestLinkedMetadata(
                domain_name=name.lower(), base_language_code=1033
            ),
        )
        b = em.provisioning.environments
        result = await b.post(body, cfg(b, "post"))
        check(result.status.value == "InProgress", f"provisioning {name} is in progress")
        done = await wait(result.operation_id, "15m")
        return done.updated_environment.environment_id

    source = await provision("SdkSource")
    target = await provision("SdkTarget")
    # page through the three environments two at a time, following the SDK's own next link
    b = em.environments
    query = cfg(b).query_parameters
    query.top = 2
    first = await b.get(RequestConfiguration(query_parameters=query))
    check(len(first.value) == 2 and first.odata_nextlink, "a page of two links to the next")
    second = await b.with_url(first.odata_nextlink).get()
    check(len(second.value) == 1 and not second.odata_nextlink, "the last page has the third and no link")
    paged = [e.id for e in first.value + second.value]
    check(paged == [e.id for e in (await b.get(cfg(b))).value], "the pages hold the whole list in order")

    used_after = await capacity()
    check(used_after == used_before + 2048, f"capacity grew by 2 GB ({used_before} -> {used_after})")

    # backup and list
    b = em.environments.by_environment_id(source).backups
    backup = await b.post(CreateBackupRequest(label="before copy"), cfg(b, "post"))
    check(backup.label == "before copy", "a backup is taken")
    backups = await b.get(cfg(b))
    check(len(backups.collection) == 1, "the backup is listed")

    # copy into the other sandbox
    b = em.environments.by_environment_id(target).copy
    await b.post(CopyRequest(source_environment_id=source, copy_type=CopyType.Full), cfg(b, "post"))
    await wait(await last_operation(target))

    # restore the backup
    b = em.environments.by_environment_id(target).restore
    await b.post(
        RestoreRequest(source_environment_id=source, restore_point_date_time=backup.backup_point_date_time),
        cfg(b, "post"),
    )
    await wait(await last_operation(target))

    # reset
    b = em.environments.by_environment_id(target).reset
    await b.post(ResetRequest(display_name="SdkReset"), cfg(b, "post"))
    await wait(await last_operation(target), "1h")
    b = em.environments.by_environment_id(target)
    check((await b.get(cfg(b))).display_name == "SdkReset", "reset renamed the environment")

    # convert to production
    b = em.environments.by_environment_id(target).modify_sku
    await b.post(ModifyEnvironmentSkuRequest(environment_sku=EnvironmentSku.Production), cfg(b, "post"))
    await wait(await last_operation(target), "10m")
    b = em.environments.by_environment_id(target)
    check((await b.get(cfg(b))).type == "Production", "converted to production")

    # a refused copy surfaces as the SDK's validation error
    b = em.environments.by_environment_id(target).copy
    try:
        await b.post(CopyRequest(source_environment_id=source, copy_type=CopyType.Full), cfg(b, "post"))
        check(False, "copy into production is refused")
    except APIError as error:
        check(error.response_status_code == 400, "copy into production is refused with 400")

    # install an application package and poll it
    b = client.appmanagement.environments.by_environment_id(source).application_packages.by_unique_name(
        "msprov_fnouploadersolution"
    ).install
    package = await b.post(TpsInstallRequestPayload(), cfg(b, "post"))
    op_id = package.last_operation.operation_id
    b = client.appmanagement.environments.by_environment_id(source).operations.by_operation_id(uuid.UUID(str(op_id)))
    check((await b.get(cfg(b))).status.value == "Running", "the install is running")
    sim.advance("15m")
    check((await b.get(cfg(b))).status.value == "Succeeded", "the install succeeded")

    # delete and watch capacity come back
    b = em.environments.by_environment_id(source)
    await b.delete(cfg(b, "delete"))
    sim.advance("10m")
    try:
        await b.get(cfg(b))
        check(False, "a deleted environment is gone")
    except APIError as error:
        check(error.response_status_code == 404, "a deleted environment answers 404")
    check(await capacity() == used_after - 1024, "deleting freed 1 GB of database capacity")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
