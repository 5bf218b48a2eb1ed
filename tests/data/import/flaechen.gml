<?xml version="1.0" encoding="utf-8" ?>
<ogr:FeatureCollection
     gml:id="aFeatureCollection"
     xmlns:ogr="http://ogr.maptools.org/"
     xmlns:gml="http://www.opengis.net/gml/3.2">
  <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::25832"><gml:lowerCorner>393555.872131159 5708079.40893308</gml:lowerCorner><gml:upperCorner>393795.872131159 5708119.40893308</gml:upperCorner></gml:Envelope></gml:boundedBy>
                                                                                                                 
  <ogr:featureMember>
    <ogr:flaechen gml:id="flaechen.0">
      <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::25832"><gml:lowerCorner>393555.872131159 5708079.40893308</gml:lowerCorner><gml:upperCorner>393595.872131159 5708119.40893308</gml:upperCorner></gml:Envelope></gml:boundedBy>
      <ogr:geometryProperty><gml:Polygon srsName="urn:ogc:def:crs:EPSG::25832" gml:id="flaechen.geom.0"><gml:exterior><gml:LinearRing><gml:posList>393595.872131159 5708079.40893308 393595.872131159 5708119.40893308 393555.872131159 5708119.40893308 393555.872131159 5708079.40893308 393595.872131159 5708079.40893308</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></ogr:geometryProperty>
      <ogr:Nr>F-1</ogr:Nr>
      <ogr:Bezeichnung>Lücke Kampstraße</ogr:Bezeichnung>
      <ogr:Kategorie>Baulücke</ogr:Kategorie>
    </ogr:flaechen>
  </ogr:featureMember>
  <ogr:featureMember>
    <ogr:flaechen gml:id="flaechen.1">
      <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::25832"><gml:lowerCorner>393655.872131159 5708079.40893308</gml:lowerCorner><gml:upperCorner>393695.872131159 5708119.40893308</gml:upperCorner></gml:Envelope></gml:boundedBy>
      <ogr:geometryProperty><gml:Polygon srsName="urn:ogc:def:crs:EPSG::25832" gml:id="flaechen.geom.1"><gml:exterior><gml:LinearRing><gml:posList>393695.872131159 5708079.40893308 393695.872131159 5708119.40893308 393655.872131159 5708119.40893308 393655.872131159 5708079.40893308 393695.872131159 5708079.40893308</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></ogr:geometryProperty>
      <ogr:Nr>F-2</ogr:Nr>
      <ogr:Bezeichnung>Zeche Süd</ogr:Bezeichnung>
      <ogr:Kategorie>Brachfläche</ogr:Kategorie>
    </ogr:flaechen>
  </ogr:featureMember>
  <ogr:featureMember>
    <ogr:flaechen gml:id="flaechen.2">
      <gml:boundedBy><gml:Envelope srsName="urn:ogc:def:crs:EPSG::25832"><gml:lowerCorner>393755.872131159 5708079.40893308</gml:lowerCorner><gml:upperCorner>393795.872131159 5708119.40893308</gml:upperCorner></gml:Envelope></gml:boundedBy>
      <ogr:geometryProperty><gml:Polygon srsName="urn:ogc:def:crs:EPSG::25832" gml:id="flaechen.geom.2"><gml:exterior><gml:LinearRing><gml:posList>393795.872131159 5708079.40893308 393795.872131159 5708119.40893308 393755.872131159 5708119.40893308 393755.872131159 5708079.40893308 393795.872131159 5708079.40893308</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon></ogr:geometryProperty>
      <ogr:Nr>F-3</ogr:Nr>
      <ogr:Bezeichnung>Gewerbe Ost</ogr:Bezeichnung>
      <ogr:Kategorie>Gewerbefläche</ogr:Kategorie>
    </ogr:flaechen>
  </ogr:featureMember>
</ogr:FeatureCollection>
