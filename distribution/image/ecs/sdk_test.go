package ecs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// strictDecode decodes raw into a new T, refusing unknown fields and trailing data. It is not
// enough on its own: encoding/json matches keys case-insensitively, so "Family" would pass for
// "family" — compareWithSerializer catches that.
func strictDecode[T any](raw []byte) (*T, error) {
	var v T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON document")
	}
	return &v, nil
}

// checkEnums walks v and checks every value of an SDK enum type (a string type with a Values()
// method) against the values the SDK knows. The SDK itself sends unknown values through.
func checkEnums(v any) error {
	var errs []error
	var walk func(path string, rv reflect.Value)
	walk = func(path string, rv reflect.Value) {
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !rv.IsNil() {
				walk(path, rv.Elem())
			}
		case reflect.Struct:
			for i := range rv.NumField() {
				if f := rv.Type().Field(i); f.IsExported() {
					walk(path+"."+f.Name, rv.Field(i))
				}
			}
		case reflect.Slice, reflect.Array:
			for i := range rv.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), rv.Index(i))
			}
		case reflect.Map:
			iter := rv.MapRange()
			for iter.Next() {
				walk(fmt.Sprintf("%s[%v]", path, iter.Key()), iter.Value())
			}
		case reflect.String:
			values := rv.MethodByName("Values")
			if !values.IsValid() || rv.String() == "" {
				return // not an enum, or unset (the SDK does not send empty enums)
			}
			known := values.Call(nil)[0]
			var names []string
			for i := range known.Len() {
				names = append(names, known.Index(i).String())
			}
			if !slices.Contains(names, rv.String()) {
				errs = append(errs, fmt.Errorf("%s: %q is not a %s; known values: %s",
					path, rv.String(), rv.Type().Name(), strings.Join(names, ", ")))
			}
		}
	}
	walk(reflect.TypeOf(v).Elem().Name(), reflect.ValueOf(v))
	return errors.Join(errs...)
}

// capturingClient is the ECS client's HTTP client: it keeps the request the SDK serialized and
// answers it itself, so nothing leaves the process.
type capturingClient struct {
	target string
	body   []byte
}

func (c *capturingClient) Do(r *http.Request) (*http.Response, error) {
	c.target = r.Header.Get("X-Amz-Target")
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	c.body = b
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": []string{"application/x-amz-json-1.1"}},
		Body:       io.NopCloser(strings.NewReader("{}")),
		Request:    r,
	}, nil
}

// serialized returns the JSON the AWS SDK sends for the call (run with the client given), after
// the SDK's own validation of required members.
func serialized(call func(context.Context, *ecs.Client) error) (target string, body []byte, err error) {
	capture := &capturingClient{}
	client := ecs.New(ecs.Options{
		Region:           "us-west-2",
		Credentials:      aws.AnonymousCredentials{},
		HTTPClient:       capture,
		RetryMaxAttempts: 1,
	})
	if err := call(context.Background(), client); err != nil {
		return "", nil, err
	}
	return capture.target, capture.body, nil
}

// sameJSON compares two JSON documents by structure, and names the first difference.
func sameJSON(want, got []byte) error {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return err
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return err
	}
	return diffJSON("$", w, g)
}

func diffJSON(path string, want, got any) error {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: file has an object, the SDK sent %T", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s: the SDK does not send %q as written: wrong casing or a member it dropped (it sent keys %v)",
					path, k, keys(g))
			}
			if err := diffJSON(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				return fmt.Errorf("%s: the SDK sent %q, which the file does not have", path, k)
			}
		}
		return nil
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Errorf("%s: file has %d items, the SDK sent %v", path, len(w), got)
		}
		for i := range w {
			if err := diffJSON(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != nil {
				return err
			}
		}
		return nil
	default:
		if !reflect.DeepEqual(want, got) {
			return fmt.Errorf("%s: file has %v, the SDK sent %v", path, want, got)
		}
		return nil
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkAgainstSDK is the whole offline check of one API input document.
func checkAgainstSDK[T any](raw []byte, call func(context.Context, *ecs.Client, *T) error) (*T, error) {
	in, err := strictDecode[T](raw)
	if err != nil {
		return nil, fmt.Errorf("strict decode into %T: %w", *new(T), err)
	}
	if err := checkEnums(in); err != nil {
		return nil, err
	}
	_, body, err := serialized(func(ctx context.Context, c *ecs.Client) error { return call(ctx, c, in) })
	if err != nil {
		return nil, fmt.Errorf("the SDK refused the input: %w", err)
	}
	if err := sameJSON(raw, body); err != nil {
		return nil, err
	}
	return in, nil
}

func registerTaskDefinition(ctx context.Context, c *ecs.Client, in *ecs.RegisterTaskDefinitionInput) error {
	_, err := c.RegisterTaskDefinition(ctx, in)
	return err
}

func createService(ctx context.Context, c *ecs.Client, in *ecs.CreateServiceInput) error {
	_, err := c.CreateService(ctx, in)
	return err
}

// TestSDKCheckCatchesMistakes proves each layer of the check fails on the mistake it is for.
func TestSDKCheckCatchesMistakes(t *testing.T) {
	good := `{"family":"f","containerDefinitions":[{"name":"c","image":"i","essential":true}],"networkMode":"awsvpc"}`
	_, err := checkAgainstSDK([]byte(good), registerTaskDefinition)
	require.NoError(t, err)

	target, _, err := serialized(func(ctx context.Context, c *ecs.Client) error {
		return registerTaskDefinition(ctx, c, &ecs.RegisterTaskDefinitionInput{Family: aws.String("f")})
	})
	assert.ErrorContains(t, err, "ContainerDefinitions", "the SDK's own required-member validation runs")
	assert.Empty(t, target)

	for name, tc := range map[string]struct{ doc, want string }{
		"unknown field": {strings.Replace(good, `"essential"`, `"essentail"`, 1), "unknown field"},
		"wrong casing":  {strings.Replace(good, `"containerDefinitions"`, `"ContainerDefinitions"`, 1), `"ContainerDefinitions"`},
		"nested casing": {strings.Replace(good, `"essential"`, `"Essential"`, 1), `"Essential"`},
		"bad enum":      {strings.Replace(good, `"awsvpc"`, `"AWSVPC"`, 1), `"AWSVPC" is not a NetworkMode`},
		"trailing data": {good + "{}", "trailing data"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := checkAgainstSDK([]byte(tc.doc), registerTaskDefinition)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
