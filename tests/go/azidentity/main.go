// Command azidentity signs in and calls the simulator the way Go tools built on Microsoft's
// azidentity (MSAL for Go underneath) do, the Terraform provider for Power Platform among them:
// default authority, default instance discovery, net/http's default transport. Nothing points
// it at the simulator but the environment: HTTPS_PROXY (the simulator's proxy) and SSL_CERT_FILE
// (its CA).
//
// Usage: go run . (reads TENANT, CLIENT_ID, CLIENT_SECRET, USER_UPN)
//
// Prints "ok - ..." per check and exits 1 on the first mismatch.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

func check(ok bool, what string, args ...any) {
	if !ok {
		fmt.Printf("not ok - "+what+"\n", args...)
		os.Exit(1)
	}
	fmt.Printf("ok - "+what+"\n", args...)
}

func token(ctx context.Context, credential azcore.TokenCredential, scope string) string {
	t, err := credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	check(err == nil, "a token for %s (%v)", scope, err)
	return t.Token
}

func list(ctx context.Context, bearer string) int {
	// The Terraform provider's list call.
	url := "https://api.bap.microsoft.com/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments" +
		"?$expand=properties/billingPolicy,properties/copilotPolicies&api-version=2023-06-01"
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	check(err == nil, "a request (%v)", err)
	request.Header.Set("Authorization", "Bearer "+bearer)
	response, err := http.DefaultClient.Do(request)
	check(err == nil, "net/http reached api.bap.microsoft.com (%v)", err)
	defer response.Body.Close()
	var body struct {
		Value []json.RawMessage `json:"value"`
	}
	check(json.NewDecoder(response.Body).Decode(&body) == nil, "the list is JSON")
	check(response.StatusCode == http.StatusOK, "the list answered 200 over %s", response.Proto)
	return len(body.Value)
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tenant, client, secret, user := os.Getenv("TENANT"), os.Getenv("CLIENT_ID"), os.Getenv("CLIENT_SECRET"), os.Getenv("USER_UPN")

	app, err := azidentity.NewClientSecretCredential(tenant, client, secret, nil)
	check(err == nil, "azidentity ClientSecretCredential (%v)", err)
	n := list(ctx, token(ctx, app, "https://api.bap.microsoft.com/.default"))
	check(n > 0, "a service principal lists %d BAP environment(s)", n)

	//lint:ignore SA1019 the deprecated credential is still what username/password tools use
	person, err := azidentity.NewUsernamePasswordCredential("organizations", "04b07795-8ddb-461a-bbee-02f9e1bf7b46", user, "any password", nil) //nolint:staticcheck
	check(err == nil, "azidentity UsernamePasswordCredential (%v)", err)
	n = list(ctx, token(ctx, person, "https://service.powerapps.com//.default"))
	check(n > 0, "a user lists %d BAP environment(s)", n)
	fmt.Println("ok - all Go clients passed")
}
