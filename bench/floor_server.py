"""The benchmark's floor: the same stack (FastAPI app, Starlette route for /mutate, uvicorn,
TLS) as the webhook, doing the least a webhook can.

It reads the body, parses it, and answers a canned "allowed" review; our webhook's
throughput is reported as a fraction of this one's.
"""

import sys

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.routing import Route

CANNED = orjson.dumps(
    {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "", "allowed": True},
    }
)


async def mutate(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(CANNED, media_type="application/json")


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
app.router.routes.insert(0, Route("/mutate", mutate, methods=["POST"]))


if __name__ == "__main__":
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=cert,
        ssl_keyfile=key,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )
