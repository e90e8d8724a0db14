"""Microsoft's own client libraries against the simulator, unchanged: default authorities, default
instance discovery, default base URLs. The only difference from a run against Microsoft is the
environment: HTTPS_PROXY points at the simulator's proxy, and REQUESTS_CA_BUNDLE / SSL_CERT_FILE
at its CA. Virtual time moves through the simulator's control plane on its plain URL (NO_PROXY),
never by sleeping.

Usage: python real_clients.py   (reads SIM_URL, TENANT, CLIENT_ID, CLIENT_SECRET, USER_UPN)

Prints "ok - ..." per check and exits non-zero on the first mismatch.
"""

import asyncio
import json
import os
import sys
import urllib.request
import warnings

import msal
import requests
from azure.identity import ClientSecretCredential, UsernamePasswordCredential
from azure.storage.blob import BlobClient
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.httpx_request_adapter import HttpxRequestAdapter
from mspp_management.models.create_environment_request import CreateEnvironmentRequest
from mspp_management.models.create_environment_request_linked_metadata import (
    CreateEnvironmentRequestLinkedMetadata,
)
from mspp_management.models.environment_sku import EnvironmentSku
from mspp_management.service_client_base import ServiceClientBase

SIM = os.environ["SIM_URL"]
TENANT = os.environ["TENANT"]
CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
USER = os.environ["USER_UPN"]
# Any client id works for a public client, as with a real app registration.
PUBLIC_CLIENT = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
BAP = "https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform"
LCS = "https://lcsapi.lcs.dynamics.com"
PP_API = "2022-03-01-preview"


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}", flush=True)


def control(method, path, body=None):
    """The simulator's own control plane, on its plain URL (never through the proxy)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{SIM}{path}", data=data, method=method, headers={"content-type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request) as response:
        return json.loads(response.read() or b"null")


def journal_hosts():
    entries = control("GET", "/_sim/journal?limit=1000")["entries"]
    return {(e.get("host"), e["path"].split("?")[0]) for e in entries}


def msal_confidential_client():
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        authority=f"https://login.microsoftonline.com/{TENANT}",
        client_credential=CLIENT_SECRET,
    )
    result = app.acquire_token_for_client(scopes=["https://api.bap.microsoft.com/.default"])
    check("access_token" in result, f"MSAL confidential client got a token ({result.get('error')})")
    listed = requests.get(
        f"{BAP}/scopes/admin/environments?api-version=2023-06-01",
        headers={"Authorization": f"Bearer {result['access_token']}"},
        timeout=30,
    )
    check(listed.status_code == 200, f"its token lists BAP environments ({listed.status_code})")
    seen = journal_hosts()
    check(
        ("login.microsoftonline.com", f"/{TENANT}/v2.0/.well-known/openid-configuration") in seen,
        "MSAL read the tenant's OpenID configuration on login.microsoftonline.com",
    )


def msal_username_password():
    app = msal.PublicClientApplication(
        PUBLIC_CLIENT, authority="https://login.microsoftonline.com/organizations"
    )
    scopes = ["https://api.powerplatform.com/.default"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(USER, "any password", scopes=scopes)
    check("access_token" in result, f"MSAL username/password got a token ({result.get('error_description')})")
    check(
        result["id_token_claims"]["preferred_username"] == USER,
        "the ID token names the user",
    )
    seen = journal_hosts()
    check(
        ("login.microsoftonline.com", f"/common/userrealm/{USER}") in seen,
        "MSAL asked the user realm first (Managed)",
    )
    accounts = app.get_accounts()
    check(
        len(accounts) == 1 and accounts[0]["username"] == USER,
        "MSAL cached the account under client_info",
    )
    again = app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    check(again and "access_token" in again, "MSAL refreshed silently with the refresh token")


def azure_identity():
    credential = ClientSecretCredential(TENANT, CLIENT_ID, CLIENT_SECRET)
    token = credential.get_token("https://api.bap.microsoft.com/.default")
    check(token.token and token.expires_on > 0, "azure-identity ClientSecretCredential got a token")
    listed = requests.get(
        f"{BAP}/scopes/admin/environments?api-version=2023-06-01",
        headers={"Authorization": f"Bearer {token.token}"},
        timeout=30,
    )
    check(listed.status_code == 200, "its token lists BAP environments")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        user = UsernamePasswordCredential(PUBLIC_CLIENT, USER, "any password")
        token = user.get_token("https://api.powerplatform.com/.default")
    check(token.token, "azure-identity UsernamePasswordCredential got a token")


def cfg(builder, method="get"):
    suffix = f"{method.capitalize()}QueryParameters"
    cls = next(getattr(builder, n) for n in dir(builder) if n.endswith(suffix))
    return RequestConfiguration(query_parameters=cls(api_version=PP_API))


async def power_platform_sdk():
    credential = ClientSecretCredential(TENANT, CLIENT_ID, CLIENT_SECRET)
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=["https://api.powerplatform.com/.default"]
    )
    client = ServiceClientBase(HttpxRequestAdapter(auth))
    em = client.environmentmanagement
    b = em.environments
    listed = await b.get(cfg(b))
    check(any(e.type == "Default" for e in listed.value), "the SDK lists environments on api.powerplatform.com")
    body = CreateEnvironmentRequest(
        display_name="Over the proxy",
        environment_sku=EnvironmentSku.Sandbox,
        location="unitedstates",
        linked_environment_metadata=CreateEnvironmentRequestLinkedMetadata(
            domain_name="overtheproxy", base_language_code=1033
        ),
    )
    b = em.provisioning.environments
    started = await b.post(body, cfg(b, "post"))
    check(started.status.value == "InProgress", "the SDK started provisioning a sandbox")
    control("POST", "/_sim/clock/advance", {"by": "1h"})
    b = em.operations.by_operation_id(str(started.operation_id))
    done = await b.get(cfg(b))
    check(done.status.value == "Succeeded", "the provisioning operation succeeded")
    env_id = done.updated_environment.environment_id
    b = em.environments.by_environment_id(env_id)
    got = await b.get(cfg(b))
    check(got.display_name == "Over the proxy", "the new sandbox is there")
    seen = journal_hosts()
    check(
        any(host == "api.powerplatform.com" for host, _ in seen),
        "the SDK went to api.powerplatform.com",
    )


def storage_upload():
    app = msal.PublicClientApplication(
        PUBLIC_CLIENT, authority=f"https://login.microsoftonline.com/{TENANT}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        result = app.acquire_token_by_username_password(
            USER, "any password", scopes=[f"{LCS}/.default"]
        )
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    project = os.environ["PROJECT"]
    created = requests.post(
        f"{LCS}/box/fileasset/CreateFileAsset/{project}",
        json={"Name": "Proxy package", "FileName": "proxy-package.zip", "FileType": 10},
        headers=headers,
        timeout=30,
    ).json()
    location = created["FileLocation"]
    check(
        location.startswith("https://") and ".blob.core.windows.net/" in location,
        f"LCS hands out an https SAS URL on the storage host ({location.split('?')[0]})",
    )
    data = os.urandom(1_500_000)
    # Small blocks so the SDK uploads in Put Block + Put Block List, as it does large packages.
    blob = BlobClient.from_blob_url(location, max_single_put_size=512 * 1024, max_block_size=256 * 1024)
    blob.upload_blob(data, overwrite=True)
    check(True, "azure-storage-blob uploaded the package in blocks to the SAS URL")
    committed = requests.post(
        f"{LCS}/box/fileasset/CommitFileAsset/{project}?assetId={created['Id']}",
        headers=headers,
        timeout=30,
    ).json()
    check(committed.get("IsSuccess") is not False, f"the asset is committed ({committed})")
    back = BlobClient.from_blob_url(location).download_blob().readall()
    check(back == data, "azure-storage-blob downloads the same bytes")


def main():
    check(os.environ.get("HTTPS_PROXY", "").startswith("http://127.0.0.1:"), "HTTPS_PROXY names the simulator")
    msal_confidential_client()
    msal_username_password()
    azure_identity()
    asyncio.run(power_platform_sdk())
    storage_upload()
    print("ok - all real clients passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # a failed check or a client error: say which, exit non-zero
        print(f"not ok - {type(error).__name__}: {error}", flush=True)
        sys.exit(1)
