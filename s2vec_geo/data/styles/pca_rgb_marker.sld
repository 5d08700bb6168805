<?xml version="1.0" encoding="UTF-8"?>
<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" version="1.1.0" xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd" xmlns:se="http://www.opengis.net/se" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ogc="http://www.opengis.net/ogc" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <NamedLayer>
  <se:Name>$name</se:Name>
  <UserStyle>
   <se:Name>$name</se:Name>
   <se:FeatureTypeStyle>
    <se:Rule>
     <se:Name>PCA-RGB colour of the embedding</se:Name>
     <ogc:Filter>
      <ogc:Not>
       <ogc:PropertyIsNull>
        <ogc:PropertyName>$colour_field</ogc:PropertyName>
       </ogc:PropertyIsNull>
      </ogc:Not>
     </ogc:Filter>
     <se:PointSymbolizer>
      <se:Graphic>
       <se:Mark>
        <se:WellKnownName>circle</se:WellKnownName>
        <se:Fill>
         <se:SvgParameter name="fill">
          <ogc:PropertyName>$colour_field</ogc:PropertyName>
         </se:SvgParameter>
        </se:Fill>
       </se:Mark>
       <se:Size>7</se:Size>
      </se:Graphic>
     </se:PointSymbolizer>
    </se:Rule>
    <se:Rule>
     <se:Name>no embedding</se:Name>
     <se:ElseFilter/>
     <se:PointSymbolizer>
      <se:Graphic>
       <se:Mark>
        <se:WellKnownName>circle</se:WellKnownName>
        <se:Fill>
         <se:SvgParameter name="fill">#bebebe</se:SvgParameter>
        </se:Fill>
       </se:Mark>
       <se:Size>7</se:Size>
      </se:Graphic>
     </se:PointSymbolizer>
    </se:Rule>
   </se:FeatureTypeStyle>
  </UserStyle>
 </NamedLayer>
</StyledLayerDescriptor>
