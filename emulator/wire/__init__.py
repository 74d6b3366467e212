"""Wire-format helpers shared by the emulated services and the simulated device.

Only encodings live here (SOAP/XML, base64url): nothing that knows about the World or about
service behaviour, so the device can use them without depending on service code.
"""
