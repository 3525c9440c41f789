"""The baseline: a bare Flask endpoint, served by the same gunicorn settings."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/hello")
def hello():
    return jsonify(hello="world")
