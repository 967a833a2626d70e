"""The benchmark's floor: the same stack (FastAPI app, Starlette route for /mutate, uvicorn,
TLS) as the webhook, doing the least a webhook can.

It reads the body, parses it with the webhook's JSON library, and answers an "allowed"
review with the request's uid (the API server refuses an answer about another uid, so no
real webhook can do less); our webhook's throughput is reported as a fraction of this one's. It is
served by the webhook's own uvicorn configuration and event loop (app/webhook/server.py),
so what differs is only what /mutate does.
"""

import sys
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from starlette.routing import Route

from app.webhook.server import run_frozen, uvicorn_config


async def mutate(request: Request) -> Response:
    review = orjson.loads(await request.body())
    uid = review.get("request", {}).get("uid", "")  # the bench's readiness probe sends {}
    answer = {"uid": uid, "allowed": True}
    return Response(
        orjson.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": answer}
        ),
        media_type="application/json",
    )


app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
app.router.routes.insert(0, Route("/mutate", mutate, methods=["POST"]))


if __name__ == "__main__":
    port, cert, key = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    run_frozen(uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, cert, key)).serve)
