"""The guide's own way of printing the progress line, built with str.format."""
import json

params = json.loads(input())
epochs = int(params["epochs"])
for epoch in range(0, epochs):
    print("[Process: {process}]".format(process=str(epoch + 1) + '/' + str(epochs)))
