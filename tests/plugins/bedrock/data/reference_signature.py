# Independent reference for the golden SigV4 signature in bedrock_provider_test.cc
# (GoldenRequestIsSignedForBedrock): Python's hashlib/hmac, not the plugin's code.
# Run from this directory: python3 reference_signature.py
import collections, hashlib, hmac, json

body = json.load(open('converse_request.json'), object_pairs_hook=collections.OrderedDict)
payload = json.dumps(body, separators=(',', ':'), ensure_ascii=False).encode()
payload_hash = hashlib.sha256(payload).hexdigest()
amz_date = '20240620T120000Z'
host = 'bedrock-runtime.us-east-1.amazonaws.com'
# The model id's ':' is %3A on the wire and %253A in the canonical URI (encoded twice).
uri = '/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse'
canonical = '\n'.join(['POST', uri, '', 'host:' + host, 'x-amz-content-sha256:' + payload_hash,
                       'x-amz-date:' + amz_date, '', 'host;x-amz-content-sha256;x-amz-date',
                       payload_hash])
scope = '20240620/us-east-1/bedrock/aws4_request'
to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])


def h(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
key = h(h(h(h(('AWS4' + secret).encode(), '20240620'), 'us-east-1'), 'bedrock'), 'aws4_request')
print('payload sha256:', payload_hash)
print('signature:     ', hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())
