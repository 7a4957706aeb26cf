// Independent XML-DSig (xml-crypto) for the Rust tests.
//   node xmldsig.js sign KEY_PEM CERT_PEM IN_XML [PREFIXES] -> prints IN_XML with the Assertion signed
//        (enveloped, exc-c14n, RSA-SHA256, SHA-256, Signature right after Issuer; with PREFIXES, e.g. "xs",
//        xml-crypto adds InclusiveNamespaces, to both transforms)
//   node xmldsig.js verify CERT_PEM IN_XML          -> exits 0 and prints the signed Assertion's NameID if the
//        Assertion's signature verifies with CERT_PEM only (KeyInfo ignored), non-zero otherwise
const fs = require("fs");
const { SignedXml } = require("xml-crypto");
const { DOMParser } = require("@xmldom/xmldom");
const xpath = require("xpath");

const DS = "http://www.w3.org/2000/09/xmldsig#";
const EXC = "http://www.w3.org/2001/10/xml-exc-c14n#";
const [command, ...args] = process.argv.slice(2);

if (command === "sign") {
  const [keyFile, certFile, inFile, prefixes] = args;
  const sig = new SignedXml({
    privateKey: fs.readFileSync(keyFile),
    publicCert: fs.readFileSync(certFile),
    canonicalizationAlgorithm: EXC,
    signatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
  });
  sig.addReference({
    xpath: "/*[local-name(.)='Assertion']",
    digestAlgorithm: "http://www.w3.org/2001/04/xmlenc#sha256",
    transforms: ["http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC],
    ...(prefixes ? { inclusiveNamespacesPrefixList: prefixes.split(" ") } : {}),
  });
  sig.computeSignature(fs.readFileSync(inFile, "utf8"), {
    prefix: "ds",
    location: { reference: "/*/*[local-name(.)='Issuer']", action: "after" },
  });
  process.stdout.write(sig.getSignedXml());
} else if (command === "verify") {
  const [certFile, inFile] = args;
  const xml = fs.readFileSync(inFile, "utf8");
  const doc = new DOMParser().parseFromString(xml, "text/xml");
  const signatures = xpath.select(
    "/*[local-name(.)='Assertion']/*[local-name(.)='Signature' and namespace-uri(.)='" + DS + "']",
    doc,
  );
  if (signatures.length !== 1) {
    console.error("expected one Signature on the Assertion, found " + signatures.length);
    process.exit(2);
  }
  const sig = new SignedXml({ publicCert: fs.readFileSync(certFile), getCertFromKeyInfo: () => null });
  sig.loadSignature(signatures[0]);
  if (!sig.checkSignature(xml)) {
    console.error("signature does not verify");
    process.exit(1);
  }
  const signed = new DOMParser().parseFromString(sig.getSignedReferences()[0], "text/xml");
  process.stdout.write(xpath.select("string(//*[local-name(.)='NameID'])", signed));
} else {
  console.error("usage: xmldsig.js sign KEY CERT IN | verify CERT IN");
  process.exit(64);
}
