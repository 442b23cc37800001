package servertest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Endpoint returns the S3 server's endpoint, FLOWCACHE_TEST_S3_ENDPOINT (MinIO
// at http://127.0.0.1:9000 under scripts/servers), after checking that it
// answers and that AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set.
func S3Endpoint(t testing.TB) string {
	t.Helper()
	ep := needEndpoint(t, "S3", "FLOWCACHE_TEST_S3_ENDPOINT")
	needEnv(t, "S3", "AWS_ACCESS_KEY_ID")
	needEnv(t, "S3", "AWS_SECRET_ACCESS_KEY")
	return ep
}

// S3Client returns an AWS SDK client for the S3 server: path-style addressing,
// region us-east-1, the credentials of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func S3Client(t testing.TB) *s3.Client {
	t.Helper()
	ep := S3Endpoint(t)
	return newS3Client(ep)
}

func newS3Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  staticAWSCredentials(),
	})
}

// staticAWSCredentials are the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the
// environment, read directly so that no shared config file or instance metadata
// is consulted. The local DynamoDB accepts any, so "test" stands in when unset.
func staticAWSCredentials() aws.CredentialsProvider {
	id, secret := getenvOr("AWS_ACCESS_KEY_ID", "test"), getenvOr("AWS_SECRET_ACCESS_KEY", "test")
	return credentials.NewStaticCredentialsProvider(id, secret, "")
}

// S3Bucket creates a new, uniquely named bucket on the S3 server and returns its
// name. When the test ends, the bucket is emptied and deleted.
func S3Bucket(t testing.TB) string {
	t.Helper()
	client := S3Client(t)
	bucket := UniqueName(t)
	ctx, cancel := setupContext(t)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("servertest: create S3 bucket %s: %v", bucket, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		if err := deleteS3Bucket(ctx, client, bucket); err != nil {
			t.Errorf("servertest: delete S3 bucket %s: %v", bucket, err)
		}
	})
	return bucket
}

// deleteS3Bucket deletes every object version and delete marker of a bucket
// (a test may have turned versioning on; on an unversioned bucket each object
// has the one version "null"), then the bucket.
func deleteS3Bucket(ctx context.Context, client *s3.Client, bucket string) error {
	pages := s3.NewListObjectVersionsPaginator(client, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			var nb *types.NoSuchBucket
			if errors.As(err, &nb) {
				return nil // the test deleted it itself
			}
			return err
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		if len(ids) == 0 {
			continue
		}
		out, err := client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	_, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return err
}

// S3URL returns the flowcache URL of a bucket and key prefix on the S3 server,
// with gocloud's s3blob parameters:
//
//	s3://BUCKET/PREFIX?endpoint=ENDPOINT&use_path_style=true&disable_https=true&region=us-east-1
//
// An empty prefix gives s3://BUCKET?...
func S3URL(t testing.TB, bucket, prefix string) string {
	t.Helper()
	return s3URL(S3Endpoint(t), bucket, prefix)
}

func s3URL(endpoint, bucket, prefix string) string {
	return joinPrefix("s3://"+bucket, prefix) +
		"?endpoint=" + endpoint + "&use_path_style=true&disable_https=true&region=" + Region
}
