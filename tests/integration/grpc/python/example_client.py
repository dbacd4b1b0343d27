"""A minimal Python client of ferrite's gRPC API (docs/grpc.md shows this file; test_grpc.py runs it).

    pip install grpcio grpcio-tools
    python -m grpc_tools.protoc -I proto --python_out=gen --grpc_python_out=gen proto/ferrite/v1/ferrite.proto
    PYTHONPATH=gen python example_client.py 127.0.0.1:50051 [API_KEY]
"""
import sys

import grpc

from ferrite.v1 import ferrite_pb2 as pb
from ferrite.v1 import ferrite_pb2_grpc as pb_grpc


def main(target, api_key=None):
    # With --api-key, every call carries `authorization: Bearer KEY`.
    metadata = [("authorization", f"Bearer {api_key}")] if api_key else []
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.FerriteStub(channel)
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), metadata=metadata, timeout=10)
        print(f"model: {info.served_model_names[0]} ({info.architecture}, {info.vocab_size} ids)")

        # Greedy generation from token ids, streamed: chunks of new tokens, then one Complete per
        # completion (the last one carries the usage).
        request = pb.GenerateRequest(
            token_ids=pb.TokenIds(ids=[1, 17, 42, 99, 7, 300]),
            sampling=pb.SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True),
        )
        tokens = []
        try:
            for response in stub.Generate(request, metadata=metadata, timeout=60):
                kind = response.WhichOneof("response")
                if kind == "chunk":
                    tokens.extend(response.chunk.token_ids)
                elif kind == "complete":
                    done = response.complete
                    print("finish:", pb.FinishReason.Name(done.finish_reason))
                    if done.HasField("usage"):
                        print(f"usage: {done.usage.prompt_tokens} prompt, {done.usage.completion_tokens} generated")
                elif kind == "error":
                    print("error:", response.error.message, file=sys.stderr)
                    return 1
        except grpc.RpcError as e:  # a refused request: INVALID_ARGUMENT, UNAUTHENTICATED, ...
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            return 1
        print("tokens:", tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
